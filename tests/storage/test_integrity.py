"""Stored bytes cannot be replaced: altered ones are refused, overwrites do not displace the original."""
from __future__ import annotations

import hashlib
import io

import pytest
from minio.error import S3Error

from trainproof.storage import SNAPSHOTS, IntegrityError
from trainproof.storage.uris import object_key
from trainproof.storage.housekeeping import purge
from tests.storage.conftest import s3_client
from tests.storage.test_roundtrip import sha256_of

pytestmark = pytest.mark.storage


def test_object_altered_in_the_bucket_is_refused_and_leaves_no_file(submitter, verifier, random_file, admin_s3,
                                                                     tmp_path, created):
    source = random_file(5 << 20)
    artifact = submitter.put_file(source, SNAPSHOTS)
    created.append((SNAPSHOTS, artifact.sha256))
    # The root key removes every version (bypassing retention) and writes other bytes under the key.
    purge(admin_s3, SNAPSHOTS, artifact.sha256)
    forged = b"not the snapshot" * 1000
    admin_s3.put_object(SNAPSHOTS, object_key(artifact.sha256), io.BytesIO(forged), len(forged))

    target = tmp_path / "downloads" / "snapshot.bin"
    with pytest.raises(IntegrityError) as error:
        verifier.get_file(artifact.uri, artifact.sha256, target)

    actual = hashlib.sha256(forged).hexdigest()
    message = str(error.value)
    assert artifact.uri in message and artifact.sha256 in message and actual in message
    assert (error.value.expected, error.value.actual) == (artifact.sha256, actual)
    assert list(target.parent.iterdir()) == []  # neither the file nor a partial one


def test_second_write_of_other_bytes_does_not_replace_the_object(submitter, verifier, random_file, admin_s3,
                                                                 tmp_path, created):
    source = random_file(2 << 20)
    artifact = submitter.put_file(source, SNAPSHOTS)
    created.append((SNAPSHOTS, artifact.sha256))
    key = object_key(artifact.sha256)
    original = admin_s3.stat_object(SNAPSHOTS, key).version_id

    # Another org's submitter may write snapshots, so S3 lets it PUT over the key...
    rogue = s3_client("submitter", "org2")
    other = b"overwritten" * 4096
    rogue.put_object(SNAPSHOTS, key, io.BytesIO(other), len(other))

    # ...but the original version stays, cannot be removed, and is what readers get.
    fetched = verifier.get_file(artifact.uri, artifact.sha256, tmp_path / "snapshot.bin")
    assert sha256_of(fetched) == artifact.sha256
    assert verifier.exists(artifact.sha256, SNAPSHOTS)
    for client in (rogue, s3_client("verifier", "org1")):
        with pytest.raises(S3Error, match="AccessDenied"):
            client.remove_object(SNAPSHOTS, key, version_id=original)
    with pytest.raises(S3Error, match="WORM protected"):  # object lock binds even the root key
        admin_s3.remove_object(SNAPSHOTS, key, version_id=original)
    assert original in {v.version_id for v in admin_s3.list_objects(SNAPSHOTS, prefix=key, include_version=True)}


def test_file_changed_between_hashing_and_upload_is_not_stored(submitter, random_file, admin_s3, created):
    source = random_file(4 << 20)
    sha256 = sha256_of(source)
    created.append((SNAPSHOTS, sha256))

    def change_after_hashing(phase: str, done: int, total: int) -> None:
        if phase == "hash" and done == total:
            with open(source, "r+b") as stream:
                stream.write(b"changed")

    with pytest.raises(IntegrityError, match="changed while it was being uploaded"):
        submitter.put_file(source, SNAPSHOTS, progress=change_after_hashing)
    assert list(admin_s3.list_objects(SNAPSHOTS, prefix=object_key(sha256), include_version=True)) == []
