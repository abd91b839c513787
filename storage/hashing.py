"""SHA-256 of local files, read once in large chunks."""
from __future__ import annotations

import hashlib
from pathlib import Path

from trainproof.storage.progress import Meter

CHUNK = 1 << 20  # 1 MiB: large enough that Python's per-call cost does not show


def sha256_file(path: Path, meter: Meter) -> tuple[str, int]:
    """The hex digest and the number of bytes it covers (the size as read, not as stat'ed before)."""
    size = 0
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as stream:
        while n := stream.readinto(buffer):
            digest.update(view[:n])
            size += n
            meter.advance(n)
    return digest.hexdigest(), size
