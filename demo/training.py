"""The demo's three recorded runs, small enough to train in seconds on two cores."""
from __future__ import annotations

from pathlib import Path
from typing import Any

INTERVALS = 10
STEPS_PER_INTERVAL = 10
CHILD_INTERVALS = 5


def poisoned_intervals(intervals: int, audited: int) -> list[int]:
    """Enough poisoned intervals that an audit sample of ``audited`` cannot miss them all.

    The contract audits that many intervals (``selection.audit_size``) drawn from those its
    outlier rules did not pick. With fewer clean intervals than that, every selection holds a
    poisoned one.
    """
    clean = audited - 1
    return list(range(clean, intervals))


def train(run_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """One recorded run (see demo.digits.train_digits); returns run.json."""
    from demo.digits import train_digits

    return train_digits(run_dir, intervals=kwargs.pop("intervals", INTERVALS), steps_per_interval=STEPS_PER_INTERVAL,
                        **kwargs)


def final_snapshot(run_dir: Path, run: dict[str, Any]) -> Path:
    last = max(run["snapshots"], key=lambda s: s["index"])
    return run_dir / last["file"]
