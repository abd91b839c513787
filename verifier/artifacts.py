"""Snapshots and datasets a worker needs, fetched once into its cache and always hash-checked.

The cache is bounded: a verifier that checks models of 800 MB snapshots for a month must not
fill its disk. After each download it removes the least recently used artifacts until it holds
at most ``max_bytes`` (``TRAINPROOF_CACHE_MAX_GB``), never one a running task holds.

Workers of one identity share the cache directory, so an artifact can be evicted by another
process while a task uses it. Hence the tasks' holds: inside `ArtifactCache.task`, every
artifact fetched is also hard-linked into the task's own directory and that link is what the
task reads. Evicting the cache's name then frees the bytes only once the task ends, and a task
never sees a file vanish. A hold or a private directory is named after the process that made it,
so those of a worker killed mid-task (whose ``finally`` never ran) are removed by the next sweep
of any worker of the identity: a decrypted artifact must not outlive its task even then.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from trainproof.storage import ArtifactStore
from trainproof.ml.snapshot import sha256_file

_ARTIFACT = re.compile(r"[0-9a-f]{64}")
# A task's own directory: ".<kind>-<pid>-<random>" (kind "hold" or "sealed").
_TASK_DIR = re.compile(r"\.(hold|sealed)-(\d+)-.+")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ArtifactCache:
    """Content-addressed local cache: ``<dir>/<sha256>``; a file is used only if it hashes right.

    ``downloaded`` counts the bytes fetched from storage so far (cache hits cost nothing), so a
    task can state in its vote what it downloaded: the difference across the task. ``max_bytes``
    None keeps everything (a one-off check); 0 keeps nothing beyond what running tasks hold.
    """

    def __init__(self, store: ArtifactStore, directory: Path, max_bytes: int | None = None) -> None:
        self.store, self.directory, self.max_bytes = store, directory, max_bytes
        self.downloaded = 0
        self._task = threading.local()  # the running task's holds, per thread (a threads pool shares the cache)
        directory.mkdir(parents=True, exist_ok=True)
        self.sweep()

    @property
    def _holds(self) -> Path | None:
        return getattr(self._task, "holds", None)

    @contextmanager
    def task(self) -> Iterator[None]:
        """Hold every artifact fetched in this thread until the block ends (see the module's docstring)."""
        if self._holds is not None:
            raise RuntimeError("a task is already running in this thread")
        self._task.holds = self.task_directory("hold")
        try:
            yield
        finally:
            shutil.rmtree(self._task.holds, ignore_errors=True)
            self._task.holds = None

    def task_directory(self, kind: str) -> Path:
        """A new directory of this process's own (0700) under the cache, swept if the process dies."""
        return Path(tempfile.mkdtemp(prefix=f".{kind}-{os.getpid()}-", dir=self.directory))

    def output_path(self, name: str) -> Path:
        """Where a task writes a file of its own (the replayed snapshot): in its holds, so that a
        killed worker's output is swept with them; in the cache directory outside a task."""
        return (self._holds or self.directory) / name

    def fetch(self, uri: str, sha256: str, size: int | None = None) -> Path:
        """The artifact's path (inside a task, the task's hold on it); ``size`` (the ledger's) bounds
        what is downloaded."""
        path = self.directory / sha256
        held = self._hold(path)
        if held is not None:
            if sha256_file(held) == sha256:
                return held
            for damaged in {path, held}:  # damaged on disk: fetch again
                damaged.unlink(missing_ok=True)
        dest = self._holds / sha256 if self._holds is not None else path
        fetched = self.store.get_file(uri, sha256, dest, expected_size=size)
        self.downloaded += fetched.stat().st_size
        if fetched != path:
            with suppress(FileExistsError):  # another worker of the identity fetched it meanwhile
                os.link(fetched, path)
        self.evict(keep=sha256)
        return fetched

    def fetch_sealed(self, uri: str, ciphertext: dict, plaintext_sha256: str, key: bytes, directory: Path) -> Path:
        """A sealed artifact, decrypted while downloading into ``directory`` (the task's private one,
        never the shared cache: the plaintext must not outlive the task)."""
        path = directory / plaintext_sha256
        if path.exists():
            return path
        opened = self.store.get_sealed(uri, ciphertext["sha256"], plaintext_sha256, key, path,
                                       expected_size=ciphertext["size"])
        self.downloaded += int(ciphertext["size"])  # what came over the wire: the ciphertext
        return opened

    def _hold(self, path: Path) -> Path | None:
        """Mark ``path`` used now and, inside a task, link it into the task's holds; None if absent."""
        try:
            os.utime(path)  # the last use: eviction goes by it
            if self._holds is None:
                return path
            held = self._holds / path.name
            with suppress(FileExistsError):
                os.link(path, held)
            return held
        except FileNotFoundError:  # never fetched, or evicted by another worker just now
            return None

    def evict(self, keep: str | None = None) -> int:
        """Remove the least recently used artifacts until at most ``max_bytes`` remain; the bytes removed.

        An artifact with another link is held by a running task: removing the cache's name would
        free nothing until that task ends, so it stays and counts. So does ``keep``, the one just
        fetched outside a task (its caller is about to read it).
        """
        self.sweep()
        if self.max_bytes is None:
            return 0
        entries = []
        for entry in os.scandir(self.directory):
            if _ARTIFACT.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with suppress(FileNotFoundError):
                    stat = entry.stat(follow_symlinks=False)
                    entries.append((stat.st_mtime, stat.st_size, stat.st_nlink, entry.path))
        total, removed = sum(size for _, size, _, _ in entries), 0
        for _, size, links, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if links > 1 or os.path.basename(path) == keep:
                continue
            with suppress(FileNotFoundError):  # another worker evicted it first
                os.unlink(path)
                removed += size
            total -= size
        return removed

    def sweep(self) -> None:
        """Remove the holds and private directories of processes that no longer exist."""
        for entry in os.scandir(self.directory):
            match = _TASK_DIR.fullmatch(entry.name)
            if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match.group(2))):
                shutil.rmtree(entry.path, ignore_errors=True)
