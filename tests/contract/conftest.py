"""Fixtures for the contract's tests on the in-memory ledger."""
from __future__ import annotations

import os

import pytest

from trainproof.chaincode.contract.config import MEMBERS_ENV
from tests.contract.factories import Cast, Net, model_payload, sealed_payload

# The in-memory contract's consortium: what the chaincode servers are started with (--members).
os.environ.setdefault(MEMBERS_ENV, "Org1MSP,Org2MSP")


@pytest.fixture
def bare_net() -> Net:
    """The contract with no verifier registered."""
    return Net()


@pytest.fixture
def net() -> Net:
    """Two Org1 and four Org2 verifiers registered and active."""
    n = Net()
    n.register_verifiers()
    return n


@pytest.fixture
def confidential_verified(net: Net) -> dict:
    """A confidential one-interval model of Org1's client, VERIFIED (two of Org2's four verifiers seated)."""
    from tests.contract.unit.test_attestations import settle

    payload = sealed_payload(model_payload(intervals=1))
    net.call(Cast.client1, "SubmitModel", payload)
    assert settle(net, payload["model_id"]) == "VERIFIED"
    return payload


@pytest.fixture
def submitted(net: Net) -> dict:
    """A model submitted by Org1's client; not yet assigned."""
    payload = model_payload()
    net.call(Cast.client1, "SubmitModel", payload)
    return payload
