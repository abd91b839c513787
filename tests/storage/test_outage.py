"""MinIO going away mid-transfer: a clear error, nothing half-stored, and the same call works once it is back."""
from __future__ import annotations

import dataclasses

import pytest

from trainproof.storage import SNAPSHOTS, ArtifactStore, StorageUnavailable
from trainproof.storage.state import load
from trainproof.storage.uris import object_key
from tests.storage.conftest import QUICK_RETRY
from tests.storage.test_roundtrip import sha256_of

pytestmark = pytest.mark.storage


def test_minio_stopped_during_upload(store_for, minio_service, random_file, admin_s3, tmp_path, created):
    store = store_for("submitter", "org1", retry=QUICK_RETRY)
    source = random_file(300 << 20)
    sha256 = sha256_of(source)
    created.append((SNAPSHOTS, sha256))
    stopped = []

    def stop_midway(phase: str, done: int, total: int) -> None:
        # Runs inside the upload, so MinIO is stopped while the request body is being sent.
        if phase == "upload" and done >= total // 5 and not stopped:
            stopped.append(done)
            minio_service.stop()

    with pytest.raises(StorageUnavailable) as error:
        store.put_file(source, SNAPSHOTS, progress=stop_midway)
    assert stopped and stopped[0] < source.stat().st_size
    assert f"MinIO at {store.conn.endpoint} is not answering" in str(error.value)
    assert "make network-up" in str(error.value)

    minio_service.start()
    assert list(admin_s3.list_objects(SNAPSHOTS, prefix=object_key(sha256), include_version=True)) == []

    artifact = store.put_file(source, SNAPSHOTS)
    assert artifact.sha256 == sha256
    fetched = store.get_file(artifact.uri, sha256, tmp_path / "back.bin")
    assert sha256_of(fetched) == sha256


def test_unreachable_minio_says_to_start_the_network(random_file):
    conn = dataclasses.replace(load("submitter", "org1"), endpoint="127.0.0.1:1")
    with ArtifactStore(conn, QUICK_RETRY) as store:
        with pytest.raises(StorageUnavailable, match=r"MinIO at 127.0.0.1:1 is not answering .*`make network-up`"):
            store.put_file(random_file(1024), SNAPSHOTS)
