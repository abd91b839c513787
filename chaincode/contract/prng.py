"""A deterministic random stream: SHA-256 in counter mode over (seed, label, counter).

Every endorsing peer derives the same numbers from the same seed; separate labels give
independent streams, so e.g. the sub-quorum of interval 7 does not shift when the audit sample
draws one more number.
"""
from __future__ import annotations

import hashlib
from typing import Sequence, TypeVar

T = TypeVar("T")


class HashStream:
    def __init__(self, seed: bytes, label: str) -> None:
        self._prefix = seed + b"\x00" + label.encode("utf-8") + b"\x00"
        self._counter = 0
        self._pool: list[int] = []

    def _u64(self) -> int:
        if not self._pool:
            block = hashlib.sha256(self._prefix + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._pool = [int.from_bytes(block[i : i + 8], "big") for i in range(24, -1, -8)]
        return self._pool.pop()

    def below(self, n: int) -> int:
        """Uniform in [0, n) by rejection sampling (no modulo bias)."""
        if n <= 0:
            raise ValueError("below() needs a positive bound")
        limit = (1 << 64) - (1 << 64) % n
        while True:
            x = self._u64()
            if x < limit:
                return x % n

    def sample(self, population: Sequence[T], k: int) -> list[T]:
        """k distinct items, uniformly, by a partial Fisher–Yates shuffle of a copy."""
        items = list(population)
        if not 0 <= k <= len(items):
            raise ValueError("sample size out of range")
        for i in range(k):
            j = i + self.below(len(items) - i)
            items[i], items[j] = items[j], items[i]
        return items[:k]
