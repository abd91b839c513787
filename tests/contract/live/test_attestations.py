"""AttestOutput's refusals on the live network (issue 17): only a VERIFIED model's final weights.

Each refusal is endorsed by both orgs' peers and never ordered (``live.refuse``), and the
model's attestations are listed afterwards: nothing was written. Models reach their states
through the real dispatcher and workers: a fake certificate (artifacts not in storage) is
REJECTED within seconds; a slow honest run stays SUBMITTED, then ASSIGNED, long enough to be
refused in both states, and ends VERIFIED. INCONCLUSIVE is refused in test_verification.py's
expiry test, where a model reaches it.
"""
from __future__ import annotations

import pytest

from tests.contract.factories import attestation_request
from tests.contract.live.conftest import UNKNOWN_MODEL, fake_payload, wait_until

pytestmark = pytest.mark.contract
ONLY_VERIFIED = "only a VERIFIED model's outputs are attested"


def no_attestations(live, model_id: str) -> bool:
    return live.query("ListAttestations", {"model_id": model_id})["attestations"] == []


def test_unknown_and_rejected_models_are_refused(live):
    unknown = attestation_request({**fake_payload("attest-unknown"), "model_id": UNKNOWN_MODEL})
    live.refuse("org1-user1", "AttestOutput", unknown, status=404, match="unknown model")
    cert = fake_payload("attest-rejected")
    live.submit_model(cert)
    mid = cert["model_id"]
    wait_until(lambda: (live.model(mid) or {}).get("status") == "REJECTED", 120, f"model {mid} REJECTED")
    live.refuse("org1-user1", "AttestOutput", attestation_request(cert), status=409,
                match=f"state: model {mid} is REJECTED; {ONLY_VERIFIED}")
    live.refuse("org1-admin", "AttestOutput", attestation_request(cert), status=403, match="role")
    assert no_attestations(live, mid)


def test_submitted_assigned_and_other_weights_are_refused_then_the_verified_model_is_attested(live, runs):
    cert = runs("slow").certificate("attest-states")
    live.submit_model(cert)
    mid = cert["model_id"]
    seen = live.model(mid)["status"]
    refusal = live.refuse("org1-user1", "AttestOutput", attestation_request(cert), status=409, match=ONLY_VERIFIED)
    if seen == "SUBMITTED" == live.model(mid)["status"]:  # the dispatcher's draw takes a few blocks
        assert f"model {mid} is SUBMITTED" in refusal.message, refusal.message
    wait_until(lambda: live.model(mid)["status"] == "ASSIGNED", 60, f"model {mid} ASSIGNED")
    live.refuse("org1-user1", "AttestOutput", attestation_request(cert), status=409,
                match=f"state: model {mid} is ASSIGNED; {ONLY_VERIFIED}")
    wait_until(lambda: live.model(mid)["status"] == "VERIFIED", 300, f"model {mid} VERIFIED", every=1)
    earlier = cert["snapshots"][-2]["sha256"]
    live.refuse("org1-user1", "AttestOutput", attestation_request(cert, weights_sha256=earlier), status=409,
                match=f"weights: {earlier} is not model {mid}'s final snapshot")
    bad_root = attestation_request(cert, root="00" * 32)
    live.refuse("org1-user1", "AttestOutput", bad_root, status=400, match="root: a batch of one has root")
    assert no_attestations(live, mid)
    record = live.submit("org2-user1", "AttestOutput", attestation_request(cert))
    assert record["model"]["status"] == "VERIFIED" and record["attester"]["mspid"] == "Org2MSP"
    listed = live.query("ListAttestations", {"model_id": mid})["attestations"]
    assert [a["attestation_id"] for a in listed] == [record["attestation_id"]]
