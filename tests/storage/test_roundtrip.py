"""Files and datasets go in under their SHA-256 and come back byte for byte; stored bytes are not sent twice."""
from __future__ import annotations

import filecmp
import hashlib
import shutil
from pathlib import Path

import pytest

from trainproof.storage import DATASETS, SNAPSHOTS, IntegrityError, StorageError
from trainproof.storage.manifest import Manifest
from trainproof.storage.uris import object_key

pytestmark = pytest.mark.storage


def sha256_of(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def test_large_file_round_trip_is_hash_checked(submitter, verifier, random_file, tmp_path, created):
    source = random_file(300 << 20)
    events = []
    artifact = submitter.put_file(source, SNAPSHOTS, progress=lambda *event: events.append(event))
    created.append((SNAPSHOTS, artifact.sha256))

    assert artifact.sha256 == sha256_of(source)
    assert artifact.size == 300 << 20
    assert artifact.uri == f"s3://snapshots/sha256/{artifact.sha256}"
    assert events[-1] == ("upload", artifact.size, artifact.size)
    assert {phase for phase, _, _ in events} == {"hash", "upload"}

    dest = tmp_path / "fetched" / "snapshot.bin"
    downloads = []
    assert verifier.get_file(artifact.uri, artifact.sha256, dest, progress=lambda *e: downloads.append(e)) == dest
    assert filecmp.cmp(source, dest, shallow=False)
    assert downloads[-1] == ("download", artifact.size, artifact.size)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["snapshot.bin"]  # no partial file left


def test_second_upload_of_same_content_transfers_nothing(submitter, random_file, admin_s3, created):
    source = random_file(8 << 20)
    first = submitter.put_file(source, SNAPSHOTS)
    created.append((SNAPSHOTS, first.sha256))
    before = admin_s3.stat_object(SNAPSHOTS, object_key(first.sha256))

    events = []
    again = submitter.put_file(source, SNAPSHOTS, progress=lambda *event: events.append(event))

    assert again == first
    assert {phase for phase, _, _ in events} == {"hash"}  # hashed locally, not one byte uploaded
    versions = list(admin_s3.list_objects(SNAPSHOTS, prefix=object_key(first.sha256), include_version=True))
    assert [v.version_id for v in versions] == [before.version_id]


def make_dataset(root: Path, random_file) -> Path:
    (root / "train" / "shard").mkdir(parents=True)
    shutil.copy(random_file(3 << 20), root / "train" / "shard" / "000.bin")
    shutil.copy(random_file(1 << 20), root / "train" / "labels.bin")
    shutil.copy(root / "train" / "labels.bin", root / "labels-copy.bin")  # same bytes under two names
    (root / "empty.txt").write_bytes(b"")
    return root


def test_dataset_round_trip_through_its_manifest(submitter, verifier, random_file, tmp_path, created):
    dataset = make_dataset(tmp_path / "dataset", random_file)
    artifact = submitter.put_dir(dataset, DATASETS)
    manifest_path = tmp_path / "manifest.json"
    verifier.get_file(artifact.uri, artifact.sha256, manifest_path)
    manifest = Manifest.from_bytes(manifest_path.read_bytes())
    created.extend((DATASETS, sha256) for sha256 in {e.sha256 for e in manifest.entries} | {artifact.sha256})

    assert [e.path for e in manifest.entries] == ["empty.txt", "labels-copy.bin", "train/labels.bin",
                                                  "train/shard/000.bin"]
    assert all(e.sha256 == sha256_of(dataset / e.path) for e in manifest.entries)

    copy = tmp_path / "copy-elsewhere"
    shutil.copytree(dataset, copy)
    assert submitter.put_dir(copy, DATASETS) == artifact  # the dataset's identity is its content only

    fetched = verifier.get_dir(artifact.uri, artifact.sha256, tmp_path / "fetched")
    comparison = filecmp.dircmp(dataset, fetched)
    assert not (comparison.left_only or comparison.right_only or comparison.diff_files)
    assert filecmp.cmp(dataset / "train/shard/000.bin", fetched / "train/shard/000.bin", shallow=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_get_dir_will_not_write_into_an_existing_directory(verifier, tmp_path):
    (tmp_path / "there").mkdir()
    with pytest.raises(StorageError, match="already exists"):
        verifier.get_dir("0" * 64, "0" * 64, tmp_path / "there")


def test_a_key_that_cannot_hold_the_expected_bytes_is_refused_before_any_download(verifier, tmp_path):
    with pytest.raises(IntegrityError) as error:
        verifier.get_file(f"s3://snapshots/sha256/{'a' * 64}", "b" * 64, tmp_path / "x")
    assert "a" * 64 in str(error.value) and "b" * 64 in str(error.value)
    assert not (tmp_path / "x").exists()
