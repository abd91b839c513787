"""Snapshots and datasets a worker needs, fetched once into its cache and always hash-checked."""
from __future__ import annotations

from pathlib import Path

from trainproof.storage import ArtifactStore
from trainproof.ml.snapshot import sha256_file


class ArtifactCache:
    """Content-addressed local cache: ``<dir>/<sha256>``; a file is used only if it hashes right.

    ``downloaded`` counts the bytes fetched from storage so far (cache hits cost nothing), so a
    task can state in its vote what it downloaded: the difference across the task.
    """

    def __init__(self, store: ArtifactStore, directory: Path) -> None:
        self.store, self.directory = store, directory
        self.downloaded = 0
        directory.mkdir(parents=True, exist_ok=True)

    def fetch(self, uri: str, sha256: str, size: int | None = None) -> Path:
        """The artifact's path; ``size`` (the ledger's) bounds what is downloaded."""
        path = self.directory / sha256
        if path.exists():
            if sha256_file(path) == sha256:
                return path
            path.unlink()  # damaged on disk: fetch again
        fetched = self.store.get_file(uri, sha256, path, expected_size=size)
        self.downloaded += fetched.stat().st_size
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
