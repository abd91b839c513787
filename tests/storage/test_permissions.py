"""Each role's key can do its job and nothing more: no one deletes, verifiers write only evidence."""
from __future__ import annotations

import dataclasses

import pytest
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from trainproof.storage import DATASETS, EVIDENCE, SNAPSHOTS, AccessDenied, ArtifactStore
from trainproof.storage.state import load
from trainproof.storage.uris import object_key
from tests.storage.conftest import s3_client

pytestmark = pytest.mark.storage


@pytest.fixture
def snapshot(submitter, random_file, created):
    artifact = submitter.put_file(random_file(1 << 20), SNAPSHOTS)
    created.append((SNAPSHOTS, artifact.sha256))
    return artifact


@pytest.mark.parametrize("bucket", [SNAPSHOTS, DATASETS])
def test_verifier_cannot_write_snapshots_or_datasets(verifier, random_file, bucket):
    with pytest.raises(AccessDenied, match="org2-verifier may not write"):
        verifier.put_file(random_file(4 << 20), bucket)


def test_verifier_writes_evidence(verifier, random_file, created):
    artifact = verifier.put_file(random_file(64 << 10), EVIDENCE)
    created.append((EVIDENCE, artifact.sha256))
    assert verifier.exists(artifact.sha256, EVIDENCE)


def test_submitter_cannot_write_evidence(submitter, random_file):
    with pytest.raises(AccessDenied, match="org1-submitter may not write"):
        submitter.put_file(random_file(64 << 10), EVIDENCE)


@pytest.mark.parametrize("role,org", [("verifier", "org1"), ("verifier", "org2"), ("submitter", "org1"),
                                      ("submitter", "org2")])
def test_nobody_but_root_can_delete(snapshot, admin_s3, role, org):
    client = s3_client(role, org)
    key = object_key(snapshot.sha256)
    version = admin_s3.stat_object(SNAPSHOTS, key).version_id
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(SNAPSHOTS, key)  # would hide it behind a delete marker
    with pytest.raises(S3Error, match="AccessDenied"):
        client.remove_object(SNAPSHOTS, key, version_id=version)
    errors = list(client.remove_objects(SNAPSHOTS, [DeleteObject(key, version)], bypass_governance_mode=True))
    assert [error.code for error in errors] == ["AccessDenied"]
    assert admin_s3.stat_object(SNAPSHOTS, key).version_id == version


def test_wrong_credentials_say_what_to_do(snapshot, random_file, tmp_path):
    conn = dataclasses.replace(load("submitter", "org1"), secret_key="not-the-secret-key")
    with ArtifactStore(conn) as store:
        for attempt in (lambda: store.put_file(random_file(4 << 20), SNAPSHOTS),
                        lambda: store.get_file(snapshot.uri, snapshot.sha256, tmp_path / "x")):
            with pytest.raises(AccessDenied, match="rejected the access key of org1-submitter.*make network-up"):
                attempt()
