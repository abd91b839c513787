"""A dataset directory as one content-addressed object: the list of its files with hash and size.

The manifest is canonical JSON (sorted paths and keys, no spaces), so the same files always give the
same bytes and therefore the same SHA-256, which is what identifies the dataset on the ledger.
Paths read from a manifest are checked before use: a manifest must never write outside its directory.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from trainproof.storage.errors import StorageError
from trainproof.storage.uris import check_sha256

FORMAT = "trainproof-dataset/1"


@dataclass(frozen=True)
class Entry:
    path: str  # relative, POSIX separators
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    entries: tuple[Entry, ...]

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.entries)

    def to_bytes(self) -> bytes:
        entries = sorted(self.entries, key=lambda entry: entry.path)
        document = {"format": FORMAT, "files": [asdict(entry) for entry in entries]}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format is {document.get('format')!r}, not {FORMAT!r}")
            entries = tuple(Entry(check_path(item["path"]), check_sha256(item["sha256"]), int(item["size"]))
                            for item in document["files"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StorageError(f"not a dataset manifest: {exc}") from exc
        if len({entry.path for entry in entries}) != len(entries):
            raise StorageError("not a dataset manifest: a path is listed twice")
        return cls(entries)


def check_path(path: str) -> str:
    """A relative path that stays inside the dataset directory, or StorageError."""
    pure = PurePosixPath(path)
    # Only the normal form is accepted, so "a//b" or "./a" cannot alias "a/b" or "a".
    if path != pure.as_posix() or path == "." or pure.is_absolute() or ".." in pure.parts \
            or "\\" in path or "\0" in path:
        raise StorageError(f"unsafe path {path!r} in dataset manifest")
    return path


def scan(root: Path) -> list[tuple[str, Path]]:
    """The regular files under ``root`` as (relative POSIX path, path), sorted by relative path.

    Symbolic links and special files are refused rather than followed: what is recorded must be what
    anyone who downloads the dataset gets back.
    """
    if not root.is_dir():
        raise StorageError(f"{root} is not a directory")
    files = []
    for folder, subfolders, names in os.walk(root):
        for name in subfolders + names:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise StorageError(f"{path} is a symbolic link or special file: a dataset may hold only "
                                   f"regular files and directories")
        files += [(Path(folder, name).relative_to(root).as_posix(), Path(folder, name)) for name in names]
    if not files:
        raise StorageError(f"{root} holds no files: there is no dataset to store")
    return sorted(files)
