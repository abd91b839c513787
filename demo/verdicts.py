"""Waiting for the verifiers, and the demo's table of verdicts."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from trainproof.cli.commands.status import collect
from trainproof.cli.output import duration, styled
from trainproof.contract import TrainproofContract
from trainproof.gateway import Contract


@dataclass
class Submission:
    """One model of the demo: what was trained, and what the ledger knows of it."""

    label: str
    run_dir: Path
    run: dict[str, Any]
    model_id: str
    parent: Submission | None = None
    poisoned: list[int] = field(default_factory=list)
    report: dict[str, Any] | None = None  # status.collect() once decided

    @property
    def state(self) -> dict[str, Any]:
        assert self.report is not None
        return self.report["model"]


def wait_all(contract: Contract, subs: list[Submission], timeout: float, console: Console) -> None:
    """Wait until every model has a final status, one after the other within one deadline; fills each
    ``report``. The models are verified concurrently, so waiting in turn costs no time."""
    ledger = TrainproofContract(contract)
    deadline = time.monotonic() + timeout
    with console.status("waiting for verdicts") as spinner:
        for sub in subs:
            def show(state: dict[str, Any], label: str = sub.label) -> None:
                spinner.update(f"waiting for verdicts: {label} {state['status']}")
            state = ledger.wait_for_verdict(sub.model_id, max(0.0, deadline - time.monotonic()), 1.5, show)
            sub.report = collect(ledger, sub.model_id)
            console.print(f"  {sub.label}: {styled(state['status'])}")


def table(subs: list[Submission]) -> Table:
    t = Table(title="verdicts", title_justify="left")
    for column in ("model", "parent", "intervals replayed", "verdict", "reason", "time to verdict"):
        t.add_column(column, overflow="fold")
    for sub in subs:
        state = sub.state
        checked = ", ".join(str(i["interval"]) for i in sub.report["intervals"] if i["kind"] == "replay")
        t.add_row(f"{sub.label} [dim]{sub.model_id[:8]}[/]", sub.parent.label if sub.parent else "–",
                  f"{checked} of 0–{state['intervals'] - 1}", styled(state["status"]), _reason(state),
                  duration(state["updated_at"] - state["submitted_at"]))
    return t


def _reason(state: dict[str, Any], limit: int = 110) -> str:
    """The ledger's reason, naming the rejected interval, cut short (`trainproof status` has it all)."""
    reason = state["reason"] or ""
    rejected = state.get("rejected_intervals")
    if state["status"] == "REJECTED" and rejected and "interval" not in reason:
        reason = f"interval {', '.join(map(str, rejected))}: {reason}"
    if len(reason) <= limit:
        return reason
    return reason[:limit].rsplit(" ", 1)[0] + " … (see trainproof status)"


def selection_note(sub: Submission) -> str:
    """For the backdoored model: what was poisoned against what the contract chose to check."""
    replayed = [i for i in sub.report["intervals"] if i["kind"] == "replay"]
    chosen = ", ".join(f"{i['interval']} ({'/'.join(i['reasons'])})" for i in replayed)
    hit = sorted({i["interval"] for i in replayed} & set(sub.poisoned))
    return (f"{sub.label}: poisoned intervals {_span(sub.poisoned)}; selected {chosen}; "
            f"poisoned and selected: {', '.join(map(str, hit)) or 'none'}")


def _span(numbers: list[int]) -> str:
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{numbers[0]}–{numbers[-1]}"
    return ", ".join(map(str, numbers))
