"""The client does not believe a lying gateway peer (issue 15, finding 13).

A hostile org runs its "peer" as a real gRPC Gateway server here (``HostilePeer``, TLS with a
CA of its own, as an org controls its TLS CA): it passes the client's signed proposal on to the
real peer0.org2, so it holds genuine endorsements of both orgs, and then lies in one way per
test. The client must check the endorsements against the channel's MSPs, and must take the
commit status only from its own org's peer (or a configured quorum), never from the liar.
"""
from __future__ import annotations

import datetime
import ipaddress
import uuid
from concurrent import futures
from typing import Callable

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from trainproof.gateway import (
    CommitStatusError, EndorseError, Endpoint, EvaluateError, connect, signer_from_key_file,
)
from trainproof.gateway.endpoints import Connection

pytestmark = pytest.mark.network

# Rewrites the real gateway's prepared transaction (an Envelope payload) into the liar's.
Forge = Callable[[bytes], bytes]


def _self_signed(name: str, ou: str = "", ca: bool = False) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)] + (
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou)] if ou else [])
    subject = x509.Name(attrs)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return key, builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _endorsed_action(payload: bytes) -> tuple[common_pb2.Payload, transaction_pb2.Transaction,
                                              transaction_pb2.ChaincodeActionPayload]:
    tx_payload = common_pb2.Payload.FromString(payload)
    tx = transaction_pb2.Transaction.FromString(tx_payload.data)
    return tx_payload, tx, transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)


def _repack(tx_payload, tx, action) -> bytes:
    tx.actions[0].payload = action.SerializeToString()
    tx_payload.data = tx.SerializeToString()
    return tx_payload.SerializeToString()


def other_result(payload: bytes) -> bytes:
    """Keeps the genuine signatures, changes the chaincode's answer under them."""
    tx_payload, tx, action = _endorsed_action(payload)
    response = proposal_response_pb2.ProposalResponsePayload.FromString(action.action.proposal_response_payload)
    cc_action = proposal_pb2.ChaincodeAction.FromString(response.extension)
    cc_action.response.payload = b"forged result"
    response.extension = cc_action.SerializeToString()
    action.action.proposal_response_payload = response.SerializeToString()
    return _repack(tx_payload, tx, action)


def self_issued_org1(payload: bytes) -> bytes:
    """Replaces Org1's endorsement with one that verifies, by a peer certificate no MSP issued."""
    tx_payload, tx, action = _endorsed_action(payload)
    key, cert = _self_signed("peer0.org1.trainproof.test", ou="peer")
    endorser = identities_pb2.SerializedIdentity(mspid="Org1MSP", id_bytes=cert).SerializeToString()
    signature = key.sign(action.action.proposal_response_payload + endorser, ec.ECDSA(hashes.SHA256()))
    kept = [e for e in action.action.endorsements
            if identities_pb2.SerializedIdentity.FromString(e.endorser).mspid != "Org1MSP"]
    del action.action.endorsements[:]
    action.action.endorsements.extend(kept)
    action.action.endorsements.add(endorser=endorser, signature=signature)
    return _repack(tx_payload, tx, action)


def without_org1(payload: bytes) -> bytes:
    """Drops Org1's endorsement: the policy needs a majority of two orgs, i.e. both."""
    tx_payload, tx, action = _endorsed_action(payload)
    kept = [e for e in action.action.endorsements
            if identities_pb2.SerializedIdentity.FromString(e.endorser).mspid != "Org1MSP"]
    del action.action.endorsements[:]
    action.action.endorsements.extend(kept)
    return _repack(tx_payload, tx, action)


class HostilePeer(gateway_pb2_grpc.GatewayServicer):
    """Org2's gateway as a liar runs it: endorsements come from the real peer0.org2 (then
    ``forge`` rewrites them), transactions are never ordered, every commit status is VALID."""

    def __init__(self, real: Endpoint, forge: Forge | None = None) -> None:
        self.real, self.forge = Connection(real), forge
        self.submitted: list[str] = []

    def Endorse(self, request, context):
        response = self.real.gateway.Endorse(request, timeout=30)
        if self.forge:
            response.prepared_transaction.payload = self.forge(response.prepared_transaction.payload)
        return response

    def Evaluate(self, request, context):
        return self.real.gateway.Evaluate(request, timeout=30)

    def Submit(self, request, context):
        self.submitted.append(request.transaction_id)
        return gateway_pb2.SubmitResponse()  # "ordered": dropped on the floor

    def CommitStatus(self, request, context):
        return gateway_pb2.CommitStatusResponse(result=transaction_pb2.VALID, block_number=1)


@pytest.fixture()
def hostile(profile):
    """start(forge) → (the liar's service, its Endpoint, claiming Org2MSP)."""
    servers: list[tuple[grpc.Server, HostilePeer]] = []
    key, cert = _self_signed("localhost", ca=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    real = next(p for p in profile.peers if p.mspid == "Org2MSP")

    def start(forge: Forge | None = None) -> tuple[HostilePeer, Endpoint]:
        service = HostilePeer(real, forge)
        server = grpc.server(futures.ThreadPoolExecutor(8))
        gateway_pb2_grpc.add_GatewayServicer_to_server(service, server)
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert)]))
        server.start()
        servers.append((server, service))
        return service, Endpoint(f"127.0.0.1:{port}", cert, "localhost", "Org2MSP")

    yield start
    for server, service in servers:
        server.stop(0)
        service.real.close()


def _gateway(profile, peers: list[Endpoint], **kw):
    files = profile.identity_files("org1-user1")
    return connect(files.identity(), signer_from_key_file(files.key), peers, [], msps=profile.msps, **kw)


def _committed(profile, connect_fixture, tx_id: str) -> bool:
    """Whether the real peers have the transaction (asked through an honest gateway)."""
    qscc = connect_fixture("org1-user1").get_network(profile.channel).get_contract("qscc")
    try:
        qscc.evaluate("GetTransactionByID", [profile.channel, tx_id])
        return True
    except EvaluateError:
        return False


@pytest.mark.parametrize("forge, why", [
    (other_result, "signature does not verify"),
    (self_issued_org1, "was not issued by a CA of Org1MSP"),
    (without_org1, r"MAJORITY Endorsement policy needs 2 of 2 \(missing: Org1MSP\)"),
], ids=["changed-result", "self-issued-endorser", "missing-org"])
def test_forged_endorsements_are_refused_before_signing(profile, hostile, forge, why):
    service, liar = hostile(forge)
    with _gateway(profile, [liar]) as gateway:
        contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
        with pytest.raises(EndorseError, match=why):
            contract.submit_async("PutValue", [f"forged-{uuid.uuid4()}", "v"])
    assert service.submitted == []  # never signed, never handed over


def test_honest_endorsements_pass_the_checks(profile, hostile, connect):
    """Control: the same path with nothing forged is accepted (through an honest own-org peer)."""
    own = next(p for p in profile.peers if p.mspid == "Org1MSP")
    with _gateway(profile, [own]) as gateway:
        submitted = gateway.get_network(profile.channel).get_contract(profile.chaincode).submit_async(
            "PutValue", [f"honest-{uuid.uuid4()}", "v"])
        assert submitted.get_status().successful
    assert _committed(profile, connect, submitted.tx_id)


def test_another_orgs_peer_alone_is_not_believed_on_commit(profile, hostile, connect):
    """Genuine endorsements, then the liar drops the transaction and reports it VALID: without
    a peer of its own org the client reports no success."""
    service, liar = hostile()
    with _gateway(profile, [liar]) as gateway:
        submitted = gateway.get_network(profile.channel).get_contract(profile.chaincode).submit_async(
            "PutValue", [f"dropped-{uuid.uuid4()}", "v"])
        with pytest.raises(CommitStatusError, match="not trusted"):
            submitted.get_status()
    assert service.submitted == [submitted.tx_id]
    assert not _committed(profile, connect, submitted.tx_id)


def test_a_quorum_is_not_fooled_by_one_liar(profile, hostile, connect):
    """With commit_quorum=2, the liar's VALID and the honest peer0.org2's silence are no quorum."""
    service, liar = hostile()
    honest = next(p for p in profile.peers if p.mspid == "Org2MSP")
    with _gateway(profile, [liar, honest], commit_quorum=2) as gateway:
        submitted = gateway.get_network(profile.channel).get_contract(profile.chaincode).submit_async(
            "PutValue", [f"quorum-{uuid.uuid4()}", "v"])
        with pytest.raises(CommitStatusError, match="fewer than 2 peers"):
            submitted.get_status(timeout=5)
    assert not _committed(profile, connect, submitted.tx_id)
