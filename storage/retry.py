"""Retries with exponential backoff for the failures that pass on their own (a MinIO restart, a reset).

Only errors `faults.is_transient` accepts are retried; a wrong key or a denied write fails at once.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from trainproof.storage.faults import is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the waits double from ``first_delay`` up to ``max_delay``.

    The defaults ride out a MinIO restart (a few seconds) and give up after about 15 s.
    """

    attempts: int = 6
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based), with jitter so clients do not march in step."""
        return min(self.max_delay, self.first_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def run(self, operation: Callable[[], T], what: str) -> T:
        attempt = 1
        while True:
            try:
                return operation()
            except Exception as exc:
                if attempt >= self.attempts or not is_transient(exc):
                    raise
                wait = self.delay(attempt)
                attempt += 1
                log.warning("%s failed (%s); attempt %d of %d in %.1fs", what, exc, attempt, self.attempts, wait)
                time.sleep(wait)
