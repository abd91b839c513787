"""``trainproof show`` (the birth certificate) and ``trainproof history`` (every ledger change)."""
from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import console, emit_json, safe, short, size, styled, visible, when
from trainproof.cli.session import Session
from trainproof.ml.certificate import SCORE_KEYS


REJECTED_SHOWN = 100  # the most of a submitter's REJECTED models one `show` looks up


def rejected_by(session: Session, fingerprint: str) -> list[dict[str, Any]]:
    """The submitter's REJECTED models (up to REJECTED_SHOWN), oldest first: a submitter whose
    runs were rejected before is worth knowing about when reading its next certificate."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"submitter": fingerprint, "status": "REJECTED", "page_size": 100}
    for _ in range(50):  # pages of the submitter's models; bounded, so one `show` stays quick
        page = session.ledger.list_models(query)
        found += [{k: m[k] for k in ("model_id", "name", "reason", "submitted_at")} for m in page["models"]]
        if not page["bookmark"] or len(found) >= REJECTED_SHOWN:
            break
        query["bookmark"] = page["bookmark"]
    return sorted(found, key=lambda m: m["submitted_at"])[:REJECTED_SHOWN]


@click.command()
@click.argument("model_id", type=MODEL_ID)
@common_options
@pass_session
def show(session: Session, model_id: str) -> None:
    """The birth certificate: recipe, dataset, environment, snapshots, scores, layer hashes."""
    model = session.ledger.get_model(model_id)
    rejected = rejected_by(session, model["submitter"]["fingerprint"])
    if session.as_json:
        emit_json({**model, "submitter_rejected": rejected})
        return
    cert = model["certificate"]
    sub = model["submitter"]
    console.print(f"[bold]{safe(model['name'])}[/] v{safe(model['version'])}  {safe(model['model_id'])}  "
                  f"{styled(model['status'])}")
    record = (f"[bold red]{len(rejected)}{'+' if len(rejected) >= REJECTED_SHOWN else ''} REJECTED[/]: "
              + ", ".join(f"{safe(r['model_id'])} ({safe(r['name'])})" for r in rejected[-5:])) if rejected else "none REJECTED"
    console.print(f"submitter's record: {record}")
    _section("identity", {
        "submitter": f"{sub['mspid']} ({sub['common_name']}), fingerprint {short(sub['fingerprint'], 16)}",
        "submitted": f"{when(model['submitted_at'])}, tx {model['submitted_tx']}",
        "parent": model["parent_id"] or "–",
        "certificate sha256": model["certificate_sha256"],
    })
    recipe = cert["recipe"]
    _section("recipe", {
        "architecture": _spec(recipe["architecture"]),
        "optimizer": _spec(recipe["optimizer"]),
        "scheduler": _spec(recipe.get("scheduler")),
        "loss": recipe.get("loss", "–"),
        "seeds": ", ".join(f"{k}={v}" for k, v in recipe["seeds"].items()),
        "batches": f"{recipe['batch_size']} per step, {recipe['steps_per_interval']} steps per interval, "
                   f"{recipe['total_steps']} steps",
        **{k: json.dumps(v) for k, v in recipe.items() if k not in _RECIPE_SHOWN},
    })
    ds = cert["dataset"]
    _section("dataset", {"name": ds.get("name", "–"), "sha256": ds["sha256"], "size": size(ds["size"]), "uri": ds["uri"],
                         "preprocessing": "; ".join(p if isinstance(p, str) else json.dumps(p)
                                                    for p in ds["preprocessing"])})
    env = cert["environment"]
    _section("environment", {
        "packages": ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()),
        "device": f"{env.get('device', '–')}, {env.get('threads', '?')} threads",
        "git": f"{env.get('git_commit') or '–'}{' (dirty)' if env.get('git_dirty') else ''}",
        "command line": env.get("command_line", "–"),
    })
    _section("metrics", {k: f"{v:.4g}" if isinstance(v, float) else str(v) for k, v in cert["metrics"].items()})
    table = Table(title="snapshots and interval scores (interval i: snapshot i → i+1)", title_justify="left")
    for column in ("#", "step", "sha256", "size", "abs. change", "L2", "percent", "cosine", "input shift"):
        table.add_column(column, justify="right" if column not in ("sha256",) else "left")
    scores = {s["interval"]: s for s in cert["scores"]}
    for snap in cert["snapshots"]:
        s = scores.get(snap["index"])
        metrics = [f"{s[k]:.4g}" for k in SCORE_KEYS] if s else [""] * len(SCORE_KEYS)
        table.add_row(safe(snap["index"]), safe(snap["step"]), short(snap["sha256"], 16), size(snap["size"]), *metrics)
    console.print(table)
    chain = cert["layer_hashes"]
    _section("layer hash chain (DeepRing)", {
        "layers": ", ".join(chain["layers"]),
        "chain": f"{len(chain['chain'])} entries, head {short(chain['chain'][0], 16)}, "
                 f"tail {short(chain['chain'][-1], 16)}",
    })


_RECIPE_SHOWN = {"architecture", "optimizer", "scheduler", "loss", "seeds", "batch_size", "steps_per_interval",
                 "total_steps"}


def _spec(spec: dict[str, Any] | None) -> str:
    if not spec:
        return "–"
    params = ", ".join(f"{k}={json.dumps(v)}" for k, v in spec.get("params", {}).items())
    return f"{spec['name']}({params})"


def _section(title: str, rows: dict[str, str]) -> None:
    console.print(f"[bold]{title}[/]")
    width = max(len(k) for k in rows) if rows else 0
    for key, value in rows.items():
        console.print(visible(f"  {key:<{width}}  {value}"), markup=False)


@click.command()
@click.argument("model_id", type=MODEL_ID)
@common_options
@pass_session
def history(session: Session, model_id: str) -> None:
    """Every ledger change to the model's records, oldest first, with transaction id and time."""
    answer = session.ledger.get_history(model_id)
    if session.as_json:
        emit_json(answer)
        return
    table = Table(title=f"history of {model_id}", title_justify="left")
    for column in ("time (UTC)", "tx id", "record", "change"):
        table.add_column(column, overflow="fold")
    for entry in answer["entries"]:
        table.add_row(when(entry["timestamp"]), short(entry["tx_id"], 16), _record(entry), describe(entry))
    console.print(table)
    console.print(f"{len(answer['entries'])} changes; full records: trainproof history {model_id} --json")


def _record(entry: dict[str, Any]) -> str:
    key = entry["key"][1:]  # the model id is the first attribute of every key
    return safe(entry["record"]) + (f" {int(key[0])}" if key and key[0].isdigit() else "")


def describe(entry: dict[str, Any]) -> str:
    """One line saying what a history entry changed."""
    value, record = entry["value"], entry["record"]
    if entry["is_delete"] or value is None:
        return "deleted"
    if record == "model":
        return "birth certificate recorded"
    if record == "modelstate":
        reason = f": {safe(value['reason'])}" if value.get("reason") else ""
        return f"status {styled(value['status'])}{reason}"
    if record == "assignment":
        chosen = ", ".join(str(s["interval"]) for s in value.get("selected", []))
        return f"intervals {safe(chosen)} selected (seed {short(value.get('seed'), 12)})"
    if record == "interval":
        return f"round {safe(value['round'])}: {len(value['verifiers'])} verifiers assigned"
    if record == "vote":
        who = safe(value["verifier"]["name"]) if value["verifier"].get("name") else short(value["verifier"]["fingerprint"])
        return f"{who} voted {styled(value['verdict'])}"
    if record == "decision":
        tally = value.get("tally", {})
        return f"{styled(value['outcome'])} ({tally.get('ACCEPT', 0)} accept, {tally.get('REJECT', 0)} reject)"
    return safe(record)
