"""make bench-storage: upload and download throughput of a snapshot (256 MiB), beside a local copy of the same bytes.

Sealed rows: the same snapshot encrypted on the client (storage/sealing.py, AES-256-GCM in 1 MiB
chunks) as it is uploaded, and authenticated and decrypted as it is downloaded (`put_sealed`,
`get_sealed`: no ciphertext file on disk), in the same run, so the ratio to the plain rows is the
cost of end-to-end confidentiality on this machine. A sealed upload reads the file twice like a
plain one, but its first pass seals as well as hashes (both hashes), and its second seals again.
A sealed download hashes once like a plain one (the plaintext; storage/sealed.py says why not the
ciphertext) and adds the decryption.

The local copy (with fsync, as MinIO makes its writes durable too) is the floor: the ratio says what the
store costs on top of moving the bytes on this machine. Upload includes hashing the file first;
download includes hashing and the fsync before the verified file is moved into place. The test object
is removed afterwards (root key, retention bypassed) so repeated runs do not fill the disk.

    python -m bench.storage [--size-mib 256] [--pairs 24]

With ``--pairs N`` each direction is measured N times as a plain-and-sealed pair (the order
alternates from pair to pair) and the medians are printed, with each pair's own ratio: on a
shared machine the load changes between runs more than between the two transfers of a pair.
From 6 pairs on, the median of the pairs' ratios comes with a 95 % confidence interval that
assumes nothing about how the noise is distributed (`median_interval`): the ≤ 15 % goal counts
as shown only when the whole interval is below it, since single pairs here range over ±30 %.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from math import comb
from pathlib import Path
from statistics import median
from typing import Callable, TypeVar

from trainproof.storage import SNAPSHOTS, ArtifactStore, ProgressFn
from trainproof.storage.connect import s3_client
from trainproof.storage.housekeeping import purge
from trainproof.storage.sealing import new_key
from trainproof.storage.state import load

T = TypeVar("T")
MiB = 1 << 20


def timed(operation: Callable[[], T]) -> tuple[T, float, float]:
    """The result, the wall time, and the CPU time of this process (every thread: the client's share)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = operation()
    return result, time.perf_counter() - start, time.process_time() - cpu


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for offset in range(0, size, 64 * MiB):
            out.write(os.urandom(min(64 * MiB, size - offset)))


def copy_durably(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    with open(dest, "rb+") as stream:
        os.fsync(stream.fileno())


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of ``values``; None if they are too few.

    The interval between the k-th smallest and the k-th largest value misses the true median only
    if at least n − k + 1 of n independent samples fall on one side of it, which has probability
    2·P(Binomial(n, ½) ≤ k − 1); k is the largest that keeps that within 1 − ``confidence``.
    Nothing is assumed about the shape of the noise, which on a shared machine is anything but normal.
    """
    n, ordered = len(values), sorted(values)
    k, below = 0, 0.0
    while k < n // 2:
        below += comb(n, k) / 2 ** n  # P(B <= k)
        if 2 * below > 1 - confidence:
            break
        k += 1
    return (ordered[k - 1], ordered[n - k]) if k else None


def main() -> None:
    parser = argparse.ArgumentParser(description="storage throughput against a local file copy")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=24,
                        help="plain and sealed transfers of each direction, measured as pairs (the order alternates); "
                             "the medians are printed, and each pair's own ratio: on a shared machine the two "
                             "transfers of a pair see about the same load, successive runs do not")
    options = parser.parse_args()
    size, pairs = options.size_mib * MiB, max(1, options.pairs)

    submitter = ArtifactStore.from_state("submitter", "org1")
    verifier = ArtifactStore.from_state("verifier", "org2")
    root_client = s3_client(load("admin", ""))
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def note(row: str, seconds: float, cpu_seconds: float | None = None) -> None:
        times.setdefault(row, []).append(seconds)
        if cpu_seconds is not None:
            cpu.setdefault(row, []).append(cpu_seconds)

    with tempfile.TemporaryDirectory(prefix="trainproof-bench-") as scratch:
        source = Path(scratch) / "snapshot.bin"
        write_random(source, size)
        _, copy_s, _ = timed(lambda: copy_durably(source, Path(scratch) / "copy.bin"))
        (Path(scratch) / "copy.bin").unlink()
        down = Path(scratch) / "down.bin"

        def upload(put: Callable[[ProgressFn], T]) -> tuple[T, float, float, float]:
            """The result, the whole time, the time of the first pass (until the PUT starts), the CPU time."""
            phases: dict[str, float] = {}
            start = time.perf_counter()
            result, seconds, cpu_seconds = timed(
                lambda: put(lambda phase, done, total: phases.setdefault(phase, time.perf_counter())))
            return result, seconds, phases["upload"] - start, cpu_seconds

        def plain_pair() -> None:
            artifact, upload_s, hash_s, upload_cpu = upload(lambda note: submitter.put_file(source, SNAPSHOTS,
                                                                                            progress=note))
            try:
                note("upload", upload_s, upload_cpu)
                note("hash", hash_s)
                note("again", *timed(lambda: submitter.put_file(source, SNAPSHOTS))[1:])
                note("download", *timed(lambda: verifier.get_file(artifact.uri, artifact.sha256, down))[1:])
                down.unlink()
            finally:
                purge(root_client, SNAPSHOTS, artifact.sha256)  # the stores never delete; the benchmark cleans up

        def sealed_pair() -> None:
            key = new_key()
            sealed, sealed_put_s, survey_s, sealed_put_cpu = upload(
                lambda note: submitter.put_sealed(source, SNAPSHOTS, key, progress=note))
            try:
                note("sealed upload", sealed_put_s, sealed_put_cpu)
                note("survey", survey_s)
                note("sealed download", *timed(lambda: verifier.get_sealed(sealed.uri, sealed.sha256,
                                                                           sealed.plaintext_sha256, key, down))[1:])
                down.unlink()
            finally:
                purge(root_client, SNAPSHOTS, sealed.sha256)

        for pair in range(pairs):
            for transfer in ((plain_pair, sealed_pair) if pair % 2 == 0 else (sealed_pair, plain_pair)):
                transfer()

    rows = [("local copy + fsync", "copy"), ("upload (hash, then PUT)", "upload"), ("  of which hashing", "hash"),
            ("upload again (already stored)", "again"), ("download (GET, hash, fsync)", "download"),
            ("sealed upload (seal+hash, reseal+PUT)", "sealed upload"), ("  of which seal+hash", "survey"),
            ("sealed download (GET, open, hash, fsync)", "sealed download")]
    times["copy"] = [copy_s]
    print(f"storage benchmark: {size / MiB:.0f} MiB snapshot, MinIO at {submitter.conn.endpoint} "
          f"({'TLS' if submitter.conn.ca_file else 'plain HTTP'}, SSE-S3 at rest), {pairs} pair(s) of transfers"
          + (" (medians)" if pairs > 1 else ""))
    print(f"{'':42}{'seconds':>9}{'MiB/s':>9}{'vs copy':>10}{'CPU s/GiB':>11}")
    for name, row in rows:
        seconds = median(times[row])
        per_gib = f"{median(cpu[row]) / (size / MiB) * 1024:11.2f}" if row in cpu else f"{'':11}"
        print(f"{name:42}{seconds:9.2f}{size / MiB / seconds:9.0f}{copy_s / seconds:10.2f}{per_gib}")
    print("vs copy = local-copy time / operation time (1.00 = as fast as copying the file on this disk)")
    print("CPU s/GiB = this client's CPU time (all its threads, not MinIO's) per GiB moved")
    # Throughput lost to sealing, against the plain transfer of the same bytes in the same pair. The
    # first PUT of a run pays MinIO's warm-up, and it is the plain one: that flatters the first sealed upload.
    for way, sealed_key, plain_key in (("upload", "sealed upload", "upload"), ("download", "sealed download", "download")):
        below = [(1 - plain_s / sealed_s) * 100 for sealed_s, plain_s in zip(times[sealed_key], times[plain_key])]
        interval = median_interval(below)
        verdict = (f"95 % CI {interval[0]:.0f} to {interval[1]:.0f} % over {pairs} pairs: goal <= 15 % "
                   f"{'shown' if interval[1] <= 15 else 'not shown'}" if interval
                   else "too few pairs for a 95 % interval (6 at least): goal <= 15 % not shown")
        print(f"sealed {way}: {size / MiB / median(times[sealed_key]):.0f} MiB/s, median {median(below):.0f} % below "
              f"plain {way} ({size / MiB / median(times[plain_key]):.0f} MiB/s; {verdict})"
              + (f"; per pair: {', '.join(f'{b:.0f}' for b in below)} %" if pairs > 1 else ""))
    for store in (submitter, verifier):
        store.close()


if __name__ == "__main__":
    main()
