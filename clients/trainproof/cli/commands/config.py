"""``trainproof config show|propose|approve|proposals``: the contract's settings and their governance.

A change is a proposal by one member org's admin that takes effect only once the admins of
enough member orgs (``approval_rule``: a majority, or all) have approved it; every step is on
the ledger. What is printed from the ledger is escaped (text from the ledger is untrusted).
"""
from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from trainproof.cli.options import common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, short, styled, when
from trainproof.cli.session import Session


@click.group(name="config")
@common_options
def config() -> None:
    """Show the contract's settings; propose and approve changes (org admins)."""


@config.command()
@common_options
@pass_session
def show(session: Session) -> None:
    """The settings in force, their defaults, the member orgs, and the pending proposals."""
    view = session.ledger.get_config()
    pending = session.ledger.list_config_proposals("PENDING")
    if session.as_json:
        emit_json({**view, "pending": pending})
        return
    table = Table()
    for column in ("setting", "value", "default"):
        table.add_column(column)
    for name in sorted(view["values"]):
        table.add_row(escape(name), escape(str(view["values"][name])), escape(str(view["defaults"].get(name, ""))))
    console.print(table)
    console.print(f"member orgs: {escape(', '.join(view['members']))}")
    if view["updated"]:
        console.print(f"last change: proposal {short(view['updated'].get('proposal_id'), 16)} "
                      f"at {when(view['updated']['timestamp'])}")
    _table(pending)


@config.command()
@click.argument("settings", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.option("--note", help="Why, recorded with the proposal.")
@common_options
@pass_session
def propose(session: Session, settings: tuple[str, ...], note: str | None) -> None:
    """Propose new values (JSON values: k=2.5 sub_quorum_size=5 approval_rule='"all"'); your org approves it."""
    changes: dict[str, Any] = {}
    for item in settings:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CliError(f"{item!r} is not NAME=VALUE", "e.g. trainproof config propose audit_fraction=0.25", Exit.USAGE)
        try:
            changes[name] = json.loads(raw)
        except ValueError:
            changes[name] = raw  # a bare word, e.g. approval_rule=all
    _done(session, session.ledger.propose_config(changes, note))


@config.command()
@click.argument("proposal_id")
@common_options
@pass_session
def approve(session: Session, proposal_id: str) -> None:
    """Approve a pending proposal for your org; the approval that completes it applies it."""
    _done(session, session.ledger.approve_config(proposal_id))


@config.command()
@click.option("--status", type=click.Choice(("PENDING", "APPLIED", "EXPIRED"), case_sensitive=False))
@common_options
@pass_session
def proposals(session: Session, status: str | None) -> None:
    """Every configuration proposal, oldest first, with its approvals."""
    rows = session.ledger.list_config_proposals(status.upper() if status else None)
    if session.as_json:
        emit_json({"proposals": rows})
        return
    _table(rows)


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no proposals")
        return
    table = Table()
    for column in ("proposal", "status", "changes", "approved by", "needed", "proposed (UTC)"):
        table.add_column(column, overflow="fold")
    for p in rows:
        table.add_row(short(p["proposal_id"], 16), styled(p["status"]), escape(json.dumps(p["changes"], sort_keys=True)),
                      escape(", ".join(a["mspid"] for a in p["approvals"])), str(p["needed"]), when(p["proposed_at"]))
    console.print(table)


def _done(session: Session, proposal: dict[str, Any]) -> None:
    if session.as_json:
        emit_json(proposal)
        return
    got = len(proposal["approvals"])
    console.print(f"proposal {proposal['proposal_id']}: {styled(proposal['status'])}, approved by "
                  f"{escape(', '.join(a['mspid'] for a in proposal['approvals']))} ({got} of {proposal['needed']} needed)")
