"""make bench-storage: upload and download throughput of a 1 GiB snapshot, beside a local copy of the same bytes.

Sealed rows: the same snapshot encrypted on the client (storage/sealing.py, AES-256-GCM in 1 MiB
chunks) before upload, and authenticated and decrypted after download, in the same run, so the
ratio to the plain rows is the cost of end-to-end confidentiality on this machine.

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
from trainproof.storage.sealing import new_key, open_sealed, seal
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


def seal_file(source: Path, dest: Path, key: bytes) -> None:
    with open(source, "rb") as plain, open(dest, "wb") as out:
        seal(plain, out, key)


def open_file(source: Path, dest: Path, key: bytes) -> None:
    with open(source, "rb") as blob, open(dest, "wb") as out:
        open_sealed(blob, out, key)


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
        key, sealed_path = new_key(), Path(scratch) / "snapshot.sealed"
        sealed_artifact = None
        try:
            _, again_s = timed(lambda: submitter.put_file(source, SNAPSHOTS))
            _, download_s = timed(lambda: verifier.get_file(artifact.uri, artifact.sha256, Path(scratch) / "down.bin"))
            (Path(scratch) / "down.bin").unlink()
            _, seal_s = timed(lambda: seal_file(source, sealed_path, key))
            sealed_artifact, sealed_put_s = timed(lambda: submitter.put_file(sealed_path, SNAPSHOTS))
            sealed_path.unlink()
            _, sealed_get_s = timed(lambda: verifier.get_file(sealed_artifact.uri, sealed_artifact.sha256, sealed_path))
            _, open_s = timed(lambda: open_file(sealed_path, Path(scratch) / "down.bin", key))
        finally:
            purge(root_client, SNAPSHOTS, artifact.sha256)  # the stores never delete; the benchmark cleans up
            if sealed_artifact is not None:
                purge(root_client, SNAPSHOTS, sealed_artifact.sha256)

    rows = [("local copy + fsync", copy_s), ("upload (hash, then PUT)", upload_s),
            ("  of which hashing", hash_s), ("upload again (already stored)", again_s),
            ("download (GET, hash, fsync)", download_s),
            ("sealed upload (seal + upload)", seal_s + sealed_put_s), ("  of which sealing", seal_s),
            ("sealed download (download + open)", sealed_get_s + open_s), ("  of which opening", open_s)]
    print(f"storage benchmark: {size / MiB:.0f} MiB snapshot, MinIO at {submitter.conn.endpoint} "
          f"({'TLS' if submitter.conn.ca_file else 'plain HTTP'}, SSE-S3 at rest)")
    print(f"{'':36}{'seconds':>9}{'MiB/s':>9}{'vs copy':>10}")
    for name, seconds in rows:
        print(f"{name:36}{seconds:9.2f}{size / MiB / seconds:9.0f}{copy_s / seconds:10.2f}")
    print("vs copy = local-copy time / operation time (1.00 = as fast as copying the file on this disk)")
    # The share of each sealed transfer spent in AES-GCM: unlike a ratio to the plain rows, it does not
    # depend on which transfer ran first (the first PUT of a run pays MinIO's warm-up).
    for way, crypto_s, total_s in (("upload", seal_s, seal_s + sealed_put_s), ("download", open_s, sealed_get_s + open_s)):
        print(f"sealed {way}: {crypto_s / total_s * 100:.0f} % of its time is encryption (goal <= 15 %); "
              f"{size / MiB / total_s:.0f} MiB/s sealed")
    for store in (submitter, verifier):
        store.close()


if __name__ == "__main__":
    main()
