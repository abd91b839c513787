"""Dataset manifests: canonical bytes, and no path in one can leave the dataset directory."""
from __future__ import annotations

import json
import os

import pytest

from trainproof.storage import StorageError
from trainproof.storage.manifest import Entry, Manifest, scan

pytestmark = pytest.mark.unit

SHA = "ab" * 32


def test_same_files_give_the_same_bytes_whatever_the_order():
    a, b = Entry("b/x.bin", SHA, 3), Entry("a.bin", SHA, 1)
    assert Manifest((a, b)).to_bytes() == Manifest((b, a)).to_bytes()
    assert Manifest.from_bytes(Manifest((a, b)).to_bytes()).entries == (b, a)


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "./a", "a//b", "", "a\\..\\b"])
def test_unsafe_paths_are_refused(path):
    document = {"format": "trainproof-dataset/1", "files": [{"path": path, "sha256": SHA, "size": 1}]}
    with pytest.raises(StorageError, match="unsafe path|not a dataset manifest"):
        Manifest.from_bytes(json.dumps(document).encode())


def test_a_path_listed_twice_is_refused():
    document = {"format": "trainproof-dataset/1",
                "files": [{"path": "a", "sha256": SHA, "size": 1}, {"path": "a", "sha256": SHA, "size": 1}]}
    with pytest.raises(StorageError, match="twice"):
        Manifest.from_bytes(json.dumps(document).encode())


def test_other_json_is_not_a_manifest():
    with pytest.raises(StorageError, match="not a dataset manifest"):
        Manifest.from_bytes(b'{"files": []}')


def test_scan_refuses_symbolic_links(tmp_path):
    (tmp_path / "real.bin").write_bytes(b"x")
    os.symlink(tmp_path / "real.bin", tmp_path / "link.bin")
    with pytest.raises(StorageError, match="symbolic link"):
        scan(tmp_path)


def test_scan_lists_regular_files_sorted(tmp_path):
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "b").write_bytes(b"1")
    (tmp_path / "a").write_bytes(b"2")
    assert [relative for relative, _ in scan(tmp_path)] == ["a", "z/b"]
