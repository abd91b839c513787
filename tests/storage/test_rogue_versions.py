"""A reader does not pay per rogue version (issue 15, finding 10).

Any org's key may PUT over an existing key (an S3 policy cannot forbid it, and MinIO's policy
conditions cannot tie the checksum to the key's name); each write adds a version. Here the other
org's submitter key writes 60 versions of other bytes (each with its own, correct checksum, so
MinIO accepts them) over an artifact: the reader still gets the original, with one listing and
a couple of HEADs instead of one HEAD per version.
"""
from __future__ import annotations

import base64
import hashlib
import io
from collections import Counter

import pytest

from trainproof.storage import SNAPSHOTS
from trainproof.storage.uris import object_key
from tests.storage.conftest import s3_client
from tests.storage.test_roundtrip import sha256_of

pytestmark = pytest.mark.storage
ROGUE_VERSIONS = 60


def counting(store) -> Counter:
    """Counts the store's HTTP requests by method (and GET listings apart from GET objects)."""
    calls: Counter = Counter()
    send = store._http.urlopen

    def urlopen(method, url, *args, **kwargs):
        calls["LIST" if method == "GET" and "versions" in url else method] += 1
        return send(method, url, *args, **kwargs)

    store._http.urlopen = urlopen
    return calls


def test_a_reader_pays_no_more_for_rogue_versions(submitter, verifier, random_file, tmp_path, created):
    artifact = submitter.put_file(random_file(64 << 10), SNAPSHOTS)
    created.append((SNAPSHOTS, artifact.sha256))
    hostile = s3_client("submitter", "org2")
    for n in range(ROGUE_VERSIONS):
        rogue = f"rogue version {n}".encode()
        checksum = base64.b64encode(hashlib.sha256(rogue).digest()).decode()
        hostile.put_object(SNAPSHOTS, object_key(artifact.sha256), io.BytesIO(rogue), len(rogue),
                           metadata={"x-amz-checksum-sha256": checksum})
    calls = counting(verifier)
    target = verifier.get_file(artifact.uri, artifact.sha256, tmp_path / "snapshot.bin", expected_size=artifact.size)
    assert sha256_of(target) == artifact.sha256
    assert calls["LIST"] == 1 and calls["HEAD"] <= 3, calls  # was one HEAD per version
    assert verifier.exists(artifact.sha256, SNAPSHOTS)
