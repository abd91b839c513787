"""The worker's artifact cache on real files: bounded by its limit, least recently used first, never
taking what a running task holds (even from another worker of the identity), and sweeping what a
killed worker left. The store is a stand-in that writes known bytes (the live suites fetch from MinIO)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainproof.verifier.artifacts import ArtifactCache
from trainproof.verifier.settings import cache_max_bytes

pytestmark = pytest.mark.unit

BLOBS = {hashlib.sha256(b).hexdigest(): b for b in (b"a" * 100, b"b" * 100, b"c" * 100, b"d" * 100)}
A, B, C, D = BLOBS


class Store:
    """Writes the artifact's bytes where the cache asks, and counts the downloads."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def get_file(self, uri, sha256, dest, expected_size=None):
        self.fetched.append(sha256)
        Path(dest).write_bytes(BLOBS[sha256])
        return Path(dest)


def fetch(cache: ArtifactCache, sha: str) -> Path:
    return cache.fetch(f"s3://snapshots/sha256/{sha}", sha, 100)


def cached(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name in BLOBS}


def age(directory: Path, sha: str, seconds: float) -> None:
    """Make ``sha``'s last use ``seconds`` ago (file times here are too coarse to order fast fetches)."""
    stat = (directory / sha).stat()
    os.utime(directory / sha, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_the_least_recently_used_artifacts_go_first_and_a_hit_counts_as_a_use(tmp_path):
    store, directory = Store(), tmp_path / "cache"
    cache = ArtifactCache(store, directory, max_bytes=250)
    fetch(cache, A)
    fetch(cache, B)
    age(directory, A, 20)
    age(directory, B, 10)
    fetch(cache, A)  # a hit: A is now the most recent
    fetch(cache, C)  # 300 bytes > 250: the least recently used (B) goes
    assert cached(directory) == {A, C}
    assert store.fetched == [A, B, C] and cache.downloaded == 300


def test_no_limit_keeps_everything_and_zero_keeps_nothing_between_tasks(tmp_path):
    unbounded = ArtifactCache(Store(), tmp_path / "all")
    for sha in BLOBS:
        fetch(unbounded, sha)
    assert cached(tmp_path / "all") == set(BLOBS)

    store, directory = Store(), tmp_path / "none"
    cache = ArtifactCache(store, directory, max_bytes=0)
    with cache.task():
        first, second = fetch(cache, A), fetch(cache, B)
        assert first.read_bytes() == BLOBS[A] and second.read_bytes() == BLOBS[B]
        assert cached(directory) == {A, B}  # held while the task runs
    cache.evict()
    assert cached(directory) == set()


def test_another_worker_cannot_evict_what_a_running_task_holds(tmp_path):
    directory = tmp_path / "cache"
    mine, theirs = ArtifactCache(Store(), directory, max_bytes=0), ArtifactCache(Store(), directory, max_bytes=0)
    with mine.task():
        held = fetch(mine, A)
        assert held.parent != directory  # the task reads its own link, not the shared name
        fetch(theirs, B)  # the other worker's download evicts down to 0: A is held, so it stays
        assert A in cached(directory)
        (directory / A).unlink()  # even a name removed by hand (or an older worker) leaves the task's bytes
        assert held.read_bytes() == BLOBS[A]
        assert fetch(mine, A) == held  # and a second use within the task is still a hit
    assert not held.exists()


def test_a_hit_in_the_cache_of_another_worker_is_shared_and_a_damaged_file_fetched_again(tmp_path):
    directory = tmp_path / "cache"
    first_store, second_store = Store(), Store()
    first, second = ArtifactCache(first_store, directory), ArtifactCache(second_store, directory)
    with first.task():
        fetch(first, A)
    with second.task():
        assert fetch(second, A).read_bytes() == BLOBS[A]
    assert second_store.fetched == []
    (directory / A).write_bytes(b"x" * 100)  # damaged on disk
    with second.task():
        assert fetch(second, A).read_bytes() == BLOBS[A]
    assert second_store.fetched == [A] and (directory / A).read_bytes() == BLOBS[A]


def test_a_killed_workers_holds_and_decrypted_files_are_swept_but_a_living_ones_are_not(tmp_path):
    directory = tmp_path / "cache"
    cache = ArtifactCache(Store(), directory, max_bytes=0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    fetched = fetch(cache, A)
    for kind in ("hold", "sealed"):
        (directory / f".{kind}-{dead}-x").mkdir()
        (directory / f".{kind}-{dead}-x" / "plaintext").write_bytes(b"secret")
    os.link(fetched, directory / f".hold-{dead}-x" / A)  # the dead task held A
    living = cache.task_directory("sealed")
    (living / "plaintext").write_bytes(b"in use")
    assert oct(living.stat().st_mode & 0o777) == "0o700"
    ArtifactCache(Store(), directory, max_bytes=0).evict()  # the next worker to start, or to download
    assert sorted(p.name for p in directory.iterdir()) == [living.name]  # A's only other link died with the hold
    assert (living / "plaintext").read_bytes() == b"in use"


@pytest.mark.parametrize("raw, expected", [("", 20_000_000_000), ("0", 0), ("2.5", 2_500_000_000)])
def test_the_limit_is_read_in_gb(monkeypatch, raw, expected):
    monkeypatch.setenv("TRAINPROOF_CACHE_MAX_GB", raw)
    assert cache_max_bytes() == expected


@pytest.mark.parametrize("raw", ["-1", "lots", "inf", "nan"])
def test_a_limit_that_is_not_a_size_is_refused_with_what_to_set(monkeypatch, raw):
    monkeypatch.setenv("TRAINPROOF_CACHE_MAX_GB", raw)
    with pytest.raises(RuntimeError, match="TRAINPROOF_CACHE_MAX_GB.*is not a size in GB: set it to a number"):
        cache_max_bytes()


def test_tasks_on_two_threads_of_one_worker_hold_their_own_artifacts(tmp_path):
    """A threads pool shares one cache between concurrent tasks: each thread has its own holds."""
    import threading

    cache, held, started = ArtifactCache(Store(), tmp_path / "cache", max_bytes=0), {}, threading.Barrier(2)
    errors: list[BaseException] = []

    def task(sha: str) -> None:
        try:
            with cache.task():
                started.wait(timeout=10)
                held[sha] = fetch(cache, sha)
                started.wait(timeout=10)  # both hold theirs at once
                assert held[sha].read_bytes() == BLOBS[sha]
        except BaseException as exc:  # a thread's failure would otherwise only be logged
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(sha,)) for sha in (A, B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert held[A].parent != held[B].parent and not held[A].exists() and not held[B].exists()


def test_a_tasks_own_output_lives_in_its_holds_and_goes_with_them(tmp_path):
    cache = ArtifactCache(Store(), tmp_path / "cache", max_bytes=0)
    assert cache.output_path("replay-m-3.safetensors") == tmp_path / "cache" / "replay-m-3.safetensors"
    with cache.task():
        out = cache.output_path("replay-m-3.safetensors")
        out.write_bytes(b"replayed")
        assert out.parent.name.startswith(f".hold-{os.getpid()}-")
    assert not out.exists()
