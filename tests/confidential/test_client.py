"""The typed client's data-key calls (issue #18) against the contract on the in-memory ledger: what
it encodes is what the contract parses, and a granted reader unwraps the key it was sent."""
from __future__ import annotations

import os

import pytest

from trainproof.chaincode.contract.config import MEMBERS_ENV
from trainproof.chaincode.contract.router import handle
from trainproof.confidential.keywrap import delivery, load_certificate, unwrap
from trainproof.contract import TrainproofContract
from tests.contract.factories import Cast, Net, Party, keyed_party, model_payload, sealed_payload

pytestmark = pytest.mark.unit
READER, READER_KEY = keyed_party("Org2MSP", "auditor@org2.example.com")


class LedgerContract:
    """A gateway Contract that sends every call to the in-memory ledger as ``who``."""

    def __init__(self, net: Net, who: Party) -> None:
        self.net, self.who = net, who

    def _call(self, function: str, args: list[str]) -> bytes:
        return self.net.ledger.invoke(handle, self.who.creator, function, [a.encode() for a in args])

    evaluate = submit = _call


def test_grant_deliver_and_read_through_the_typed_client(monkeypatch):
    monkeypatch.setenv(MEMBERS_ENV, "Org1MSP,Org2MSP")  # as tests/contract/conftest.py sets it
    net = Net()
    payload = sealed_payload(model_payload(intervals=3), snapshots=[1, 2, 3])
    net.call(Cast.client1, "SubmitModel", payload)
    mid, submitter = payload["model_id"], TrainproofContract(LedgerContract(net, Cast.client1))
    grant = submitter.grant_access(mid, "Org2MSP", cert_pem=READER.pem, note="auditor")
    assert grant["fingerprint"] == READER.fingerprint
    assert [g["note"] for g in submitter.list_grants(mid)] == ["auditor"]
    keys = {s["sha256"]: os.urandom(32) for s in payload["snapshots"][1:]} | {payload["dataset"]["sha256"]: os.urandom(32)}
    out = submitter.deliver_data_keys(mid, delivery(keys, [load_certificate(READER.pem)], mid)["keys"])
    assert out["recipients"] == [{"fingerprint": READER.fingerprint, "role": "grantee", "artifacts": 4,
                                  "intervals": [], "missing": 0}]
    mine = TrainproofContract(LedgerContract(net, READER)).get_data_keys(mid)
    cert = load_certificate(READER.pem)
    assert {sha: unwrap(w, READER_KEY, cert, mid, sha) for sha, w in mine["keys"].items()} == keys
