"""``trainproof network status``: is every node healthy, and do the peers agree on the ledger height?

Reads what ``network/scripts/up.sh`` left in $TRAINPROOF_HOME: each node's operations endpoint
(``/healthz`` over TLS), each peer's channel height through the system chaincode qscc
(``GetChainInfo``), the services the profile lists, and the PID files of every process.
``make network-status`` is the shell twin of this command (it also names the Raft leader).
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
from fabric_protos.common import ledger_pb2
from rich.table import Table

from trainproof.cli.options import common_options, pass_session
from trainproof.contract import TrainproofContract
from trainproof.cli.output import CliError, Exit, console, emit_json, fail
from trainproof.cli.session import Session
from trainproof.gateway import GatewayError, Timeouts, connect, signer_from_key_file

PROBE_SECONDS = 3.0


@click.group()
@common_options
def network() -> None:
    """The local network, for operators."""


@network.command()
@common_options
@pass_session
def status(session: Session) -> None:
    """Health of every node and service, and each peer's ledger height."""
    report = collect(session)
    if session.as_json:
        emit_json(report)
    else:
        render(report)
    if report["problems"]:
        error = CliError(f"{len(report['problems'])} problem(s): {', '.join(report['problems'])}",
                         "`make network-up` restarts what is not running; logs are in "
                         f"{report['home']}/logs", Exit.UNAVAILABLE)
        if session.as_json:
            raise click.exceptions.Exit(error.code)  # the report above already says what is wrong
        fail(error, False)


@network.command()
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to keep trying.")
@common_options
@pass_session
def ready(session: Session, timeout: float) -> None:
    """Wait until every org's peer can endorse through its Gateway.

    A peer that answers is not yet ready to take transactions: its gateway finds the other
    orgs' endorsing peers through discovery, which learns of them by gossip some seconds after a
    start. `make network-up` ends with this check.
    """
    profile = session.profile
    clients = sorted({min(name for name, f in profile.identities.items() if f.mspid == p.mspid and f.role == "client")
                      for p in profile.peers})
    deadline = time.monotonic() + timeout
    waiting = {}
    for name in clients:  # one client per org: its gateway is its own org's peer
        gateway = profile.connect(name, Timeouts(endorse=PROBE_SECONDS))
        try:
            ledger = TrainproofContract(gateway.get_network(profile.channel).get_contract(profile.chaincode))
            while True:
                try:
                    ledger.endorse_ping()
                    break
                except GatewayError as exc:
                    waiting[name] = exc.message
                    if time.monotonic() > deadline:
                        raise CliError(f"{name}'s peer cannot get endorsements after {timeout:.0f}s: {exc.message}",
                                       "peers find each other by gossip: check both peers run and their logs "
                                       f"in {profile.home}/logs", Exit.UNAVAILABLE) from None
                    time.sleep(0.5)
        finally:
            gateway.close()
    result = {"ready": True, "peers": [p.label for p in profile.peers], "waited_because": waiting}
    if session.as_json:
        emit_json(result)
    else:
        console.print(f"every org's peer endorses through its Gateway ({', '.join(result['peers'])})", markup=False)


def collect(session: Session) -> dict[str, Any]:
    profile = session.profile
    raw = json.loads((profile.home / "profile.json").read_text())
    nodes = [_node(n, "peer") for n in raw["peers"]] + [_node(n, "orderer") for n in raw["orderers"]]
    files = session.files
    for node, endpoint in zip(nodes, profile.peers):
        node["height"], node["height_error"] = _height(profile, files, endpoint)
    services = [{"name": name, "address": s["address"], "reachable": _reachable(s["address"])}
                for name, s in sorted(profile.services.items()) if isinstance(s, dict) and "address" in s]
    processes = _processes(profile.home / "pids")
    problems = [f"{n['name']} not healthy" for n in nodes if not n["healthy"]]
    problems += [f"{n['name']} gives no height" for n in nodes if n["healthy"] and n.get("height_error")]
    problems += [f"{s['name']} unreachable" for s in services if not s["reachable"]]
    down = {n["name"] for n in nodes if not n["healthy"]}
    problems += [f"{p['name']} not running" for p in processes if not p["running"] and p["name"] not in down]
    heights = {n["height"] for n in nodes if n.get("height") is not None}
    if len(heights) > 1:
        problems.append(f"peers disagree on the height of {profile.channel}: {sorted(heights)} (catching up?)")
    return {"home": str(profile.home), "fabric_version": raw.get("fabric_version"), "consensus": raw.get("consensus"),
            "channel": profile.channel, "chaincode": profile.chaincode, "nodes": nodes,
            "services": services, "processes": processes, "healthy": not problems, "problems": problems}


def _node(node: dict[str, Any], kind: str) -> dict[str, Any]:
    healthy, detail = _healthz(node.get("operations"), node["tls_ca"])
    return {"name": node["name"], "kind": kind, "address": node["address"], "healthy": healthy, "detail": detail}


def _healthz(url: str | None, ca_file: str) -> tuple[bool, str]:
    if not url:
        return False, "has no operations endpoint in the profile"
    try:
        context = ssl.create_default_context(cafile=ca_file)
        with urllib.request.urlopen(f"{url}/healthz", timeout=PROBE_SECONDS, context=context) as response:
            body = json.loads(response.read())
    except (OSError, ValueError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"does not answer at {url}/healthz ({reason})"
    if body.get("status") != "OK":
        return False, f"unhealthy: {body.get('failed_checks') or body}"
    return True, "OK"


def _height(profile, files, peer) -> tuple[int | None, str | None]:
    """The peer's height of the channel (qscc GetChainInfo), asked of that peer alone."""
    gateway = connect(files.identity(), signer_from_key_file(files.key), [peer],
                      timeouts=Timeouts(evaluate=PROBE_SECONDS), retries=0)
    try:
        qscc = gateway.get_network(profile.channel).get_contract("qscc")
        return ledger_pb2.BlockchainInfo.FromString(qscc.evaluate("GetChainInfo", [profile.channel])).height, None
    except GatewayError as exc:
        return None, exc.details[0].message if exc.details else exc.message
    finally:
        gateway.close()


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_SECONDS):
            return True
    except (OSError, ValueError):
        return False


def _processes(pids: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(pids.glob("*.pid")) if pids.is_dir() else []:
        text = path.read_text().strip()
        pid = int(text) if text.isdigit() else None
        rows.append({"name": path.stem, "pid": pid, "running": pid is not None and _alive(pid)})
    return rows


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def render(report: dict[str, Any]) -> None:
    table = Table(title=f"network in {report['home']} (Fabric {report['fabric_version']}, {report['consensus']} ordering, "
                        f"channel {report['channel']})", title_justify="left")
    for column in ("node", "address", "health", "height"):
        table.add_column(column)
    for n in report["nodes"]:
        health = "[green]OK[/]" if n["healthy"] else f"[red]{n['detail']}[/]"
        height = "" if n["kind"] == "orderer" else (str(n["height"]) if n.get("height") is not None
                                                    else f"[red]{n.get('height_error')}[/]")
        table.add_row(n["name"], n["address"], health, height)
    for s in report["services"]:
        table.add_row(s["name"], s["address"], "[green]reachable[/]" if s["reachable"] else "[red]unreachable[/]", "")
    console.print(table)
    if report["processes"]:
        running = [p["name"] for p in report["processes"] if p["running"]]
        console.print(f"processes running: {', '.join(running) or 'none'}")
    if not report["problems"]:
        console.print("[green]all healthy[/]")
