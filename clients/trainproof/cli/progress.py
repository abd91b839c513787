"""Progress bars on stderr for transfers (``submit``, ``check --restore``); silent with --json."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from trainproof.storage import ProgressFn
from trainproof.cli.output import err_console

LABELS = {"hash": "hashing", "upload": "uploading", "download": "downloading"}


@contextmanager
def transfer_bars(enabled: bool = True) -> Iterator[Optional[ProgressFn]]:
    """A storage progress callback drawing one bar per phase, or None when disabled."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description:<12}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(LABELS.get(phase, phase), total=total)
            bars.update(tasks[phase], completed=done, total=total)

        yield update
