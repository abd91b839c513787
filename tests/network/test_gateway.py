"""The client speaks the peers' Gateway service: no orderer endpoint needed, and a dead gateway
peer is failed over to the next."""
from __future__ import annotations

import socket
import uuid
from dataclasses import replace

import pytest

from tests.network.ledger import endorser_msps
from trainproof.gateway import connect, signer_from_key_file

pytestmark = pytest.mark.network


def _gateway(profile, peers):
    files = profile.identity_files("org1-user1")
    return connect(files.identity(), signer_from_key_file(files.key), peers, [])


def test_the_client_needs_no_orderer_endpoint(profile):
    """Endorsement, ordering and commit status are the peer's job: given the peers alone (no
    orderer at all), a submit commits with both orgs' endorsements."""
    with _gateway(profile, profile.peers) as gateway:
        contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
        key = f"g-{uuid.uuid4()}"
        submitted = contract.submit_async("PutValue", [key, "no orderer"])
        assert submitted.get_status().successful
        assert contract.evaluate("GetValue", [key]) == b"no orderer"
        assert endorser_msps(gateway, profile.channel, submitted.tx_id) == {"Org1MSP", "Org2MSP"}


def test_a_dead_gateway_peer_is_failed_over(profile):
    """The first gateway in the list does not answer (nothing listens there): the client carries
    on with the next peer's gateway for evaluate and submit alike."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed again before use: nothing listens there
    own = next(p for p in profile.peers if p.mspid == "Org1MSP")
    dead = replace(own, address=f"127.0.0.1:{dead_port}")
    with _gateway(profile, [dead, *profile.peers]) as gateway:
        contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
        key = f"f-{uuid.uuid4()}"
        assert contract.submit("PutValue", [key, "failed over"]) == b"failed over"
        assert contract.evaluate("GetValue", [key]) == b"failed over"
