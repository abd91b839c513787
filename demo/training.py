"""The demo's three recorded runs, small enough to train in seconds on two cores."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

INTERVALS = 10
STEPS_PER_INTERVAL = 10
CHILD_INTERVALS = 5


def poisoned_intervals(intervals: int, audit_fraction: float) -> list[int]:
    """Enough poisoned intervals that the audit sample cannot miss them all.

    The contract audits ⌈fraction·n⌉ intervals drawn from those its outlier rules did not
    pick. With fewer clean intervals than that, every selection holds a poisoned one.
    """
    audited = max(1, math.ceil(audit_fraction * intervals))
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
