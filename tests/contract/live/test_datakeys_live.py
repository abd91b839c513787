"""Confidential models on the live network (issue #18): a sealed certificate is accepted, and a
data key wrapped to a Fabric identity's own certificate comes back to that identity only, which
opens it with its own key file, the one its gateway signs with."""
from __future__ import annotations

import os

import pytest

from trainproof.confidential.keywrap import delivery, load_certificate, load_private_key, unwrap
from tests.contract.factories import sealed_payload
from tests.contract.live.conftest import fake_payload

pytestmark = pytest.mark.contract


def test_a_granted_identity_opens_its_key_with_its_own_fabric_key(live):
    payload = sealed_payload(fake_payload("sealed", intervals=3), snapshots=[1, 2, 3])
    mid = live.submit_model(payload)["model_id"]
    assert live.query("GetModel", mid)["certificate"]["confidential"] == payload["confidential"]
    live.refuse("org1-user1", "GetDataKeys", mid, status=404, match="not delivered yet")
    files = live.profile.identity_files("org2-user1")
    cert = load_certificate(files.cert.read_bytes())
    live.submit("org1-user1", "GrantAccess", mid, {"cert_pem": files.cert.read_text(), "mspid": files.mspid})
    assert [g["fingerprint"] for g in live.query("ListGrants", mid)["grants"]] == [live.fingerprint("org2-user1")]
    keys = {payload["dataset"]["sha256"]: os.urandom(32), payload["snapshots"][3]["sha256"]: os.urandom(32)}
    live.refuse("org2-user1", "DeliverDataKeys", mid, delivery(keys, [cert], mid), status=403, match="role: only the submitter")
    out = live.submit("org1-user1", "DeliverDataKeys", mid, delivery(keys, [cert], mid))
    assert out["recipients"][0]["role"] == "grantee" and out["recipients"][0]["missing"] == 2
    got = live.query("GetDataKeys", mid, who="org2-user1")
    key = load_private_key(files.key)
    assert {sha: unwrap(w, key, cert, mid, sha) for sha, w in got["keys"].items()} == keys
    live.refuse("org2-admin", "GetDataKeys", mid, status=403, match="is an MSP admin")
