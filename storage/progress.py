"""Progress reporting for long transfers, so the CLI can draw one bar per phase.

A callback receives ``(phase, done_bytes, total_bytes)`` where phase is ``"hash"`` (reading local files
to learn their SHA-256), ``"upload"`` or ``"download"``. Totals cover the whole call (all files of a
dataset), and ``done`` may go back when a transfer is retried from an earlier point.
"""
from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Callable[[str, int, int], None]


class Meter:
    """Counts the bytes of one phase and reports them."""

    def __init__(self, progress: Optional[ProgressFn], phase: str, total: int) -> None:
        self.progress = progress
        self.phase = phase
        self.total = total
        self.done = 0

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.phase, self.done, self.total)

    def rewind(self, n: int) -> None:
        """Take back ``n`` bytes that will be sent again (a retried upload starts over)."""
        self.advance(-n)

