"""``trainproof status MODEL_ID``: where verification stands, interval by interval, and the verdict."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import console, emit_json, err_console, safe, short, styled, when
from trainproof.cli.session import Session
from trainproof.contract import FINAL_STATUSES, NotFound, TrainproofContract


@click.command()
@click.argument("model_id", type=MODEL_ID)
@click.option("--wait", is_flag=True, help="Wait until the model is VERIFIED, REJECTED or INCONCLUSIVE.")
@click.option("--timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds --wait waits before giving up (exit code 8).")
@common_options
@pass_session
def status(session: Session, model_id: str, wait: bool, timeout: float) -> None:
    """Status, selected intervals and why each was selected, votes per interval, verdict and reason."""
    if wait:
        with err_console.status("waiting for the verdict", spinner="dots") as spinner:
            def show(state: dict[str, Any]) -> None:
                spinner.update(f"waiting for the verdict of {model_id[:8]}: {safe(state['status'])}")
            session.ledger.wait_for_verdict(model_id, timeout, on_update=show)
    report = collect(session.ledger, model_id)
    if session.as_json:
        emit_json(report)
    else:
        render(report)


def collect(ledger: TrainproofContract, model_id: str) -> dict[str, Any]:
    """The model's state, its assignment and every vote, joined per seated interval (replayed or score-checked)."""
    model = ledger.model_state(model_id)
    try:
        assignment = ledger.get_assignment(model_id)
    except NotFound:
        return {"model": model, "assignment": None, "intervals": []}
    votes = ledger.get_votes(model_id)
    names = {v["fingerprint"]: v["name"] for v in ledger.list_verifiers()}
    selected = {s["interval"]: s for s in assignment["selected"]}
    intervals = []
    for rec in assignment["intervals"]:
        number, decision = rec["interval"], rec["decision"]
        kind = rec.get("kind", "replay")
        intervals.append({
            "interval": number,
            "kind": kind,  # replay (selected) or scores (its claimed scores checked, nothing replayed)
            "reasons": rec["reasons"],
            "why": why_selected(selected.get(number, {"reasons": rec["reasons"]})) if kind == "replay"
            else "not selected: claimed scores checked",
            "round": rec["round"],
            "deadline": rec["deadline"],
            "verifiers": [{"fingerprint": fp, "name": names.get(fp, "")} for fp in rec["verifiers"]],
            "size": rec["size"],  # the sub-quorum whose majority decides; "verifiers" are the seats filled
            "escalated": rec["escalated"],
            "votes": [{"verifier": v["verifier"]["fingerprint"], "name": v["verifier"].get("name") or names.get(
                          v["verifier"]["fingerprint"], ""), "mspid": v["verifier"]["mspid"], "verdict": v["verdict"],
                       "reason": v["evidence"].get("reason"), "round": v["round"], "tx_id": v["tx_id"],
                       "timestamp": v["timestamp"]}
                      for v in votes if v["interval"] == number],
            "decision": decision["outcome"] if decision else None,
            "decision_reason": decision["reason"] if decision else None,
            "tally": decision["tally"] if decision else None,
        })
    info = {k: assignment.get(k) for k in ("assigner", "seed", "tx_id", "timestamp", "config", "submitter_org_excluded",
                                           "assurance")}
    return {"model": model, "assignment": info, "intervals": intervals}


# Each selection reason in words, and where its figures are: (words, value key, threshold key, format).
RULE_WORDS: dict[str, tuple[str, str | None, str | None, str]] = {
    "detrended-mad": ("outlier: unusually large weight change", "residual", "threshold", " (residual {:.3g} > threshold {:.3g})"),
    "zero": ("outlier: weights did not change", None, None, ""),
    "input-shift": ("outlier: the update landed on unusual inputs", "shift_z", "shift_threshold", " (z {:.3g} > {:.3g})"),
    "low-tail": ("outlier: too little change for its place in training, e.g. a shortened interval", "low_z", "low_threshold",
                 " (z {:.3g} < {:.3g})"),
    "joint": ("outlier: a large change that also landed on unusual inputs", "joint_z", "joint_threshold", " (z {:.3g} > {:.3g})"),
    "probe-rise": ("outlier: the model got worse on its claimed data", "probe_rise", "probe_threshold",
                   " (rise {:.3g} of the initial loss > {:.3g})"),
    "audit": ("random audit sample", None, None, ""),
}


def why_selected(entry: dict[str, Any]) -> str:
    """The contract's selection reasons in words."""
    words = []
    for reason in entry.get("reasons", []):
        if reason not in RULE_WORDS:
            words.append(reason)
            continue
        text, value, threshold, figures = RULE_WORDS[reason]
        if value is not None and entry.get(value) is not None and entry.get(threshold) is not None:
            text += figures.format(entry[value], entry[threshold])
        words.append(text)
    return "; ".join(words) or "–"


def render(report: dict[str, Any]) -> None:
    model = report["model"]
    sub = model["submitter"]
    console.print(f"[bold]{safe(model['name'])}[/] v{safe(model['version'])}  {safe(model['model_id'])}  "
                  f"{styled(model['status'])}")
    console.print(f"  submitted  {when(model['submitted_at'])} by {safe(sub['mspid'])} ({safe(sub['common_name'])}), "
                  f"tx {short(model['submitted_tx'], 16)}")
    console.print(f"  parent     {safe(model['parent_id'])}")
    intervals = report["intervals"]
    if report["assignment"] is None:
        console.print(f"  intervals  {model['intervals']} recorded; none selected yet (verifiers select them "
                      "once the submission is committed)")
    else:
        replayed = [str(i["interval"]) for i in intervals if i["kind"] == "replay"]
        checked = len(intervals) - len(replayed)
        console.print(f"  intervals  {model['intervals']} recorded, {len(replayed)} selected for replay: "
                      f"{', '.join(replayed)}" + (f"; the claimed scores of the other {checked} checked" if checked else ""))
    verdict = styled(model["status"]) if model["status"] in FINAL_STATUSES else "[dim]pending[/]"
    reason = f": {safe(model['reason'])}" if model.get("reason") else ""
    console.print(f"  verdict    {verdict}{reason}")
    assurance = (report["assignment"] or {}).get("assurance")
    if assurance:
        escape = assurance["escape"]
        console.print(f"  assurance  {assurance['by_rules']} interval(s) picked by the rules, {assurance['audited']} "
                      f"audited at random from the other {assurance['audit_pool']}; poisoning the rules miss in 1 / 2 / 5 "
                      f"interval(s) escapes the audit with probability {escape['1']:.2f} / {escape['2']:.2f} / "
                      f"{escape['5']:.2f}")
    if not intervals:
        return
    table = Table()
    for column in ("interval", "selected because", "votes", "decision", "reason"):
        table.add_column(column, overflow="fold")
    for row in intervals:
        votes = ", ".join(f"{safe(v['name']) if v['name'] else short(v['verifier'])} {styled(v['verdict'])}"
                          for v in row["votes"])
        waiting = len(row["verifiers"]) - len(row["votes"])
        if waiting > 0 and row["decision"] is None:
            votes = f"{votes}{', ' if votes else ''}[dim]{waiting} to come[/]"
        if row["escalated"]:
            votes += f" [dim](a disagreement seated {len(row['escalated']['added'])} more of {row['size']})[/]"
        table.add_row(str(row["interval"]), safe(row["why"]), votes or "[dim]none yet[/]", styled(row["decision"]),
                      safe(row["decision_reason"] or ""))
    console.print(table)
