"""Certificates name only the network's own storage (issue 15, finding 10).

A URI on another host was accepted, then ACCEPTED by a verifier that had the hash in its cache
and REJECTED by one that had not: verifiers must all decide from the same place. SubmitModel
accepts an artifact URI only as one of ``storage_uri_prefixes`` followed by that artifact's own
SHA-256 (that a URI ends in its own hash was checked before; where it points was not).
"""
from __future__ import annotations

import pytest

from tests.contract.live.conftest import fake_payload

pytestmark = pytest.mark.contract


def test_an_artifact_elsewhere_is_refused(live):
    payload = fake_payload("evil-host")
    payload["dataset"]["uri"] = f"http://evil.example/sha256/{payload['dataset']['sha256']}"
    live.refuse("org1-user1", "SubmitModel", payload, status=400,
                match="storage: dataset uri 'http://evil.example/sha256/")
    assert live.model(payload["model_id"]) is None


def test_the_networks_own_storage_is_accepted(live):
    payload = fake_payload("own-storage")
    assert live.submit_model(payload)["model_id"] == payload["model_id"]
    assert set(live.query("GetConfig")["values"]["storage_uri_prefixes"]) == {"s3://datasets/sha256/",
                                                                             "s3://snapshots/sha256/"}
