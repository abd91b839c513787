"""make bench-storage: upload and download throughput of a 1 GiB snapshot, beside a local copy of the same bytes.

The local copy (with fsync, as MinIO makes its writes durable too) is the floor: the ratio says what the
store costs on top of moving the bytes on this machine. Upload includes hashing the file first;
download includes hashing and the fsync before the verified file is moved into place. The test object
is removed afterwards (root key, retention bypassed) so repeated runs do not fill the disk.

    python -m bench.storage [--size-mib 1024]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

from trainproof.storage import SNAPSHOTS, ArtifactStore
from trainproof.storage.connect import s3_client
from trainproof.storage.housekeeping import purge
from trainproof.storage.state import load

T = TypeVar("T")
MiB = 1 << 20


def timed(operation: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = operation()
    return result, time.perf_counter() - start


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for offset in range(0, size, 64 * MiB):
            out.write(os.urandom(min(64 * MiB, size - offset)))


def copy_durably(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    with open(dest, "rb+") as stream:
        os.fsync(stream.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description="storage throughput against a local file copy")
    parser.add_argument("--size-mib", type=int, default=1024)
    size = parser.parse_args().size_mib * MiB

    submitter = ArtifactStore.from_state("submitter", "org1")
    verifier = ArtifactStore.from_state("verifier", "org2")
    root_client = s3_client(load("admin", ""))
    with tempfile.TemporaryDirectory(prefix="trainproof-bench-") as scratch:
        source = Path(scratch) / "snapshot.bin"
        write_random(source, size)
        _, copy_s = timed(lambda: copy_durably(source, Path(scratch) / "copy.bin"))
        (Path(scratch) / "copy.bin").unlink()

        phases: dict[str, float] = {}

        def note(phase: str, done: int, total: int) -> None:
            phases.setdefault(phase, time.perf_counter())

        start = time.perf_counter()
        artifact = submitter.put_file(source, SNAPSHOTS, progress=note)
        upload_s = time.perf_counter() - start
        hash_s = phases["upload"] - start
        try:
            _, again_s = timed(lambda: submitter.put_file(source, SNAPSHOTS))
            _, download_s = timed(lambda: verifier.get_file(artifact.uri, artifact.sha256, Path(scratch) / "down.bin"))
        finally:
            purge(root_client, SNAPSHOTS, artifact.sha256)  # the stores never delete; the benchmark cleans up

    rows = [("local copy + fsync", copy_s), ("upload (hash, then PUT)", upload_s),
            ("  of which hashing", hash_s), ("upload again (already stored)", again_s),
            ("download (GET, hash, fsync)", download_s)]
    print(f"storage benchmark: {size / MiB:.0f} MiB snapshot, MinIO at {submitter.conn.endpoint} "
          f"({'TLS' if submitter.conn.ca_file else 'plain HTTP'}, SSE-S3 at rest)")
    print(f"{'':32}{'seconds':>9}{'MiB/s':>9}{'vs copy':>10}")
    for name, seconds in rows:
        print(f"{name:32}{seconds:9.2f}{size / MiB / seconds:9.0f}{copy_s / seconds:10.2f}")
    print("vs copy = local-copy time / operation time (1.00 = as fast as copying the file on this disk)")
    for store in (submitter, verifier):
        store.close()


if __name__ == "__main__":
    main()
