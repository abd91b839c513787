"""The Gateway client's messages and error mapping, without a network.

Pure parts first (requests, the transaction id rule, signing bytes, rich gRPC errors, resuming
after a checkpoint), then the client against a scripted in-process Gateway service over TLS:
no orderer endpoint, failover to the next peer's gateway, refusals not failed over, the
"commit status unknown" timeout and event resumption.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import threading
import time
from concurrent import futures

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import (
    chaincode_event_pb2, chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2,
)
from google.protobuf import any_pb2
from google.rpc import status_pb2

from trainproof.gateway import (
    CommitStatusError, EndorseError, Endpoint, EvaluateError, Identity, InMemoryCheckpointer, Timeouts, connect,
    messages, signer_from_pem,
)
from trainproof.gateway.endpoints import Connection
from trainproof.gateway.errors import STATUS_DETAILS_KEY, details_from_rpc, status_details
from trainproof.gateway.events import ChaincodeEvent, after_checkpoint

pytestmark = pytest.mark.unit


def _key_and_cert(name: str, ca: bool = False) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return key, builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


USER_KEY, USER_CERT = _key_and_cert("user1")
IDENTITY = Identity("Org1MSP", USER_CERT)
SIGNER = signer_from_pem(USER_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))


def _verifies(message: bytes, signature: bytes) -> bool:
    USER_KEY.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises if not
    return True


# --- messages ----------------------------------------------------------------------------------

def test_transaction_id_is_sha256_of_nonce_and_creator():
    creator = IDENTITY.serialize()
    prop, tx_id = messages.proposal("ch", "cc", [b"PutValue", b"k"], creator, {"secret": b"s"})
    header = common_pb2.Header.FromString(prop.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert len(signature_header.nonce) == 24 and signature_header.creator == creator
    assert tx_id == channel_header.tx_id == hashlib.sha256(signature_header.nonce + creator).hexdigest()
    assert channel_header.channel_id == "ch" and channel_header.type == common_pb2.ENDORSER_TRANSACTION
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
    assert dict(payload.TransientMap) == {"secret": b"s"}
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input).chaincode_spec
    assert spec.chaincode_id.name == "cc" and list(spec.input.args) == [b"PutValue", b"k"]


def test_gateway_requests_carry_channel_transaction_and_endorsing_orgs():
    signed = proposal_pb2.SignedProposal(proposal_bytes=b"p", signature=b"s")
    evaluate = messages.evaluate_request("tx", "ch", signed)
    assert (evaluate.transaction_id, evaluate.channel_id, evaluate.proposed_transaction) == ("tx", "ch", signed)
    assert not evaluate.target_organizations
    endorse = messages.endorse_request("tx", "ch", signed, ["Org1MSP", "Org2MSP"])
    assert list(endorse.endorsing_organizations) == ["Org1MSP", "Org2MSP"] and endorse.proposed_transaction == signed
    envelope = common_pb2.Envelope(payload=b"x", signature=b"y")
    submit = messages.submit_request("tx", "ch", envelope)
    assert (submit.transaction_id, submit.channel_id, submit.prepared_transaction) == ("tx", "ch", envelope)


def test_commit_status_request_bytes_are_what_is_signed():
    request = messages.commit_status_request("ch", "tx1", IDENTITY.serialize())
    parsed = gateway_pb2.CommitStatusRequest.FromString(request)
    assert (parsed.channel_id, parsed.transaction_id, parsed.identity) == ("ch", "tx1", IDENTITY.serialize())
    signature = SIGNER(hashlib.sha256(request).digest())
    assert _verifies(request, signature)
    _, s = utils.decode_dss_signature(signature)
    assert s <= 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 // 2  # low S, as Fabric requires


def test_chaincode_events_request_start_positions():
    specified = gateway_pb2.ChaincodeEventsRequest.FromString(
        messages.chaincode_events_request("ch", "cc", b"me", 12))
    assert specified.start_position.specified.number == 12 and specified.chaincode_id == "cc"
    assert not specified.after_transaction_id
    newest = gateway_pb2.ChaincodeEventsRequest.FromString(messages.chaincode_events_request("ch", "cc", b"me", None))
    assert newest.start_position.WhichOneof("Type") == "next_commit"


def _prepared(prop: proposal_pb2.Proposal, result: bytes, transient: bool = False,
              header: common_pb2.Header | None = None) -> bytes:
    """What the peer gateway returns from Endorse (its prepareTransaction), as an Envelope payload."""
    cc_payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
    public = proposal_pb2.ChaincodeProposalPayload(input=cc_payload.input,
                                                   TransientMap=cc_payload.TransientMap if transient else {})
    action = proposal_pb2.ChaincodeAction(response=proposal_response_pb2.Response(status=200, payload=result))
    response_payload = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    endorsed = transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=response_payload.SerializeToString())
    action_payload = transaction_pb2.ChaincodeActionPayload(chaincode_proposal_payload=public.SerializeToString(),
                                                            action=endorsed)
    header = header or common_pb2.Header.FromString(prop.header)
    tx = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(
        header=header.signature_header, payload=action_payload.SerializeToString())])
    return common_pb2.Payload(header=header, data=tx.SerializeToString()).SerializeToString()


def test_endorsed_result_checks_the_prepared_transaction_is_ours_and_has_no_transient_data():
    prop, _ = messages.proposal("ch", "cc", [b"f"], IDENTITY.serialize(), {"secret": b"s"})
    assert messages.endorsed_result(_prepared(prop, b"result"), prop) == b"result"
    with pytest.raises(ValueError, match="transient"):
        messages.endorsed_result(_prepared(prop, b"result", transient=True), prop)
    other, _ = messages.proposal("ch", "cc", [b"f"], IDENTITY.serialize())
    with pytest.raises(ValueError, match="header"):
        messages.endorsed_result(_prepared(prop, b"r", header=common_pb2.Header.FromString(other.header)), prop)


# --- rich gRPC errors ------------------------------------------------------------------------

def _status_blob(*details: gateway_pb2.ErrorDetail, code: int = 10) -> bytes:
    packed = []
    for d in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(d)
        packed.append(any_detail)
    return status_pb2.Status(code=code, message="failed to endorse transaction", details=packed).SerializeToString()


def test_status_details_split_the_contracts_status_and_message():
    details = status_details(_status_blob(
        gateway_pb2.ErrorDetail(address="peer0.org1:7051", msp_id="Org1MSP",
                                message="chaincode response 409, AssignVerifiers refused: once per model: m1"),
        gateway_pb2.ErrorDetail(address="peer0.org2:7051", msp_id="Org2MSP",
                                message="rpc error: code = Unavailable desc = connection refused"),
        gateway_pb2.ErrorDetail(address="peer0.org2:7051", msp_id="Org2MSP",
                                message="rpc error: code = DeadlineExceeded desc = context deadline exceeded"),
        gateway_pb2.ErrorDetail(address="peer0.org2:7051", msp_id="Org2MSP", message="ProposalResponsePayloads do not match"),
    ))
    assert [(d.address, d.msp_id, d.status, d.message) for d in details] == [
        ("peer0.org1:7051", "Org1MSP", 409, "AssignVerifiers refused: once per model: m1"),
        ("peer0.org2:7051", "Org2MSP", None, "UNAVAILABLE: connection refused"),
        ("peer0.org2:7051", "Org2MSP", None, "DEADLINE_EXCEEDED: context deadline exceeded"),
        ("peer0.org2:7051", "Org2MSP", None, "ProposalResponsePayloads do not match"),
    ]
    multiline = status_details(_status_blob(gateway_pb2.ErrorDetail(message="chaincode response 400, a\nb")))
    assert (multiline[0].status, multiline[0].message) == (400, "a\nb")


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing=()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self):
        return self._trailing


def test_details_from_rpc_fall_back_to_the_calls_own_status():
    blob = _status_blob(gateway_pb2.ErrorDetail(address="a", message="chaincode response 404, GetModel refused: x"))
    rich = _RpcError(grpc.StatusCode.UNKNOWN, "evaluate call to endorser returned error", ((STATUS_DETAILS_KEY, blob),))
    assert [(d.address, d.status) for d in details_from_rpc(rich, "peer0")] == [("a", 404)]
    plain = _RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    [only] = details_from_rpc(plain, "peer0.org1")
    assert (only.address, only.status, only.message) == ("peer0.org1", None, "UNAVAILABLE: failed to connect to all addresses")


# --- resuming after a checkpoint ---------------------------------------------------------------

def _event(block: int, tx: str) -> ChaincodeEvent:
    return ChaincodeEvent(block, tx, "cc", "E", b"")


def test_after_checkpoint_skips_through_the_checkpointed_transaction_in_its_block_only():
    block5 = [_event(5, "a"), _event(5, "b"), _event(5, "c")]
    assert after_checkpoint(block5, 5, "b") == [_event(5, "c")]
    assert after_checkpoint(block5, 5, "c") == []
    assert after_checkpoint(block5, 5, "") == block5  # checkpoint_block: the whole block is new
    assert after_checkpoint(block5, 4, "b") == block5  # another block
    assert after_checkpoint(block5, None, "") == block5
    assert after_checkpoint(block5, 5, "z") == []  # its place in the block is unknown


# --- the client against a scripted Gateway service ---------------------------------------------

class ScriptedGateway(gateway_pb2_grpc.GatewayServicer):
    """Answers like a peer gateway; records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, object]] = []
        self.refuse: tuple[gateway_pb2.ErrorDetail, ...] = ()
        self.commit_delay = 0.0
        self.events: list[gateway_pb2.ChaincodeEventsResponse] = []

    def _abort_if_refusing(self, context, code: grpc.StatusCode) -> None:
        if self.refuse:
            context.set_trailing_metadata(((STATUS_DETAILS_KEY, _status_blob(*self.refuse)),))
            context.abort(code, "failed, see attached details for more info")

    def Evaluate(self, request, context):
        self.requests.append(("Evaluate", request))
        self._abort_if_refusing(context, grpc.StatusCode.UNKNOWN)
        return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(status=200, payload=b"value"))

    def Endorse(self, request, context):
        self.requests.append(("Endorse", request))
        self._abort_if_refusing(context, grpc.StatusCode.ABORTED)
        prop = proposal_pb2.Proposal.FromString(request.proposed_transaction.proposal_bytes)
        return gateway_pb2.EndorseResponse(prepared_transaction=common_pb2.Envelope(payload=_prepared(prop, b"done")))

    def Submit(self, request, context):
        self.requests.append(("Submit", request))
        return gateway_pb2.SubmitResponse()

    def CommitStatus(self, request, context):
        self.requests.append(("CommitStatus", request))
        time.sleep(self.commit_delay)
        return gateway_pb2.CommitStatusResponse(result=transaction_pb2.VALID, block_number=7)

    def ChaincodeEvents(self, request, context):
        self.requests.append(("ChaincodeEvents", request))
        start = gateway_pb2.ChaincodeEventsRequest.FromString(request.request).start_position.specified.number
        yield from (r for r in self.events if r.block_number >= start)
        while context.is_active():
            time.sleep(0.02)


@pytest.fixture(scope="module")
def tls():
    key, cert = _key_and_cert("localhost", ca=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return grpc.ssl_server_credentials([(key_pem, cert)]), cert


@pytest.fixture()
def peer(tls):
    credentials, cert = tls
    service = ScriptedGateway()
    server = grpc.server(futures.ThreadPoolExecutor(8))
    gateway_pb2_grpc.add_GatewayServicer_to_server(service, server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield service, Endpoint(f"127.0.0.1:{port}", cert, "localhost", "Org1MSP")
    server.stop(0)


def _dead(endpoint: Endpoint) -> Endpoint:
    """The same peer at a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Endpoint(f"127.0.0.1:{port}", endpoint.tls_root_cert, "localhost", endpoint.mspid)


def _names(service: ScriptedGateway) -> list[str]:
    return [name for name, _ in service.requests]


def test_submit_without_orderers_signs_each_step(peer):
    service, endpoint = peer
    with connect(IDENTITY, SIGNER, [endpoint]) as gateway:
        contract = gateway.get_network("ch").get_contract("cc")
        submitted = contract.submit_async("PutValue", ["k", "v"], transient={"secret": b"s"})
        status = submitted.get_status()
    assert (status.successful, status.block_number, submitted.result) == (True, 7, b"done")
    assert _names(service) == ["Endorse", "Submit", "CommitStatus"]
    endorse, submit, commit = (r for _, r in service.requests)
    assert list(endorse.endorsing_organizations) == ["Org1MSP"] and endorse.transaction_id == submitted.tx_id
    assert _verifies(endorse.proposed_transaction.proposal_bytes, endorse.proposed_transaction.signature)
    envelope = submit.prepared_transaction
    assert submit.transaction_id == submitted.tx_id and _verifies(envelope.payload, envelope.signature)
    assert commit.request == submitted.bytes and _verifies(commit.request, commit.signature)
    assert submitted.digest == hashlib.sha256(submitted.bytes).digest()


def test_offline_signatures_are_used_as_given(peer):
    service, endpoint = peer
    with connect(IDENTITY, None, [endpoint]) as gateway:
        proposal = gateway.get_network("ch").get_contract("cc").new_proposal("PutValue", ["k"])
        transaction = proposal.endorse(SIGNER(proposal.digest))
        submitted = transaction.submit(SIGNER(transaction.digest))
        assert submitted.get_status(signature=SIGNER(submitted.digest)).successful
        with pytest.raises(ValueError, match="no signer"):
            submitted.get_status()


def test_a_dead_gateway_is_failed_over_to_the_next(peer):
    service, endpoint = peer
    with connect(IDENTITY, SIGNER, [_dead(endpoint), endpoint]) as gateway:
        contract = gateway.get_network("ch").get_contract("cc")
        assert contract.evaluate("GetValue", ["k"]) == b"value"
        assert contract.submit("PutValue", ["k", "v"]) == b"done"
    assert _names(service) == ["Evaluate", "Endorse", "Submit", "CommitStatus"]


def test_a_refusal_is_the_answer_not_failed_over(peer):
    service, endpoint = peer
    service.refuse = (
        gateway_pb2.ErrorDetail(address="peer0.org1", msp_id="Org1MSP", message="chaincode response 409, F refused: no"),
        gateway_pb2.ErrorDetail(address="peer0.org2", msp_id="Org2MSP", message="chaincode response 409, F refused: no"),
    )
    with connect(IDENTITY, SIGNER, [endpoint, endpoint], retries=3) as gateway:
        contract = gateway.get_network("ch").get_contract("cc")
        with pytest.raises(EndorseError) as refused:
            contract.submit("F", [])
        with pytest.raises(EvaluateError) as failed:
            contract.evaluate("F", [])
    assert [(d.address, d.status) for d in refused.value.details] == [("peer0.org1", 409), ("peer0.org2", 409)]
    assert refused.value.chaincode_message == "F refused: no" and refused.value.message == "F was not endorsed: F refused: no"
    assert failed.value.chaincode_message == "F refused: no"
    assert _names(service) == ["Endorse", "Evaluate"]  # neither retried nor failed over


def test_unreachable_peers_are_an_error_naming_them(peer):
    _, endpoint = peer
    with connect(IDENTITY, SIGNER, [_dead(endpoint)], retries=1) as gateway:
        with pytest.raises(EvaluateError) as down:
            gateway.get_network("ch").get_contract("cc").evaluate("GetValue", ["k"])
    assert down.value.details and all(d.message.startswith("UNAVAILABLE: ") for d in down.value.details)


def test_a_deadline_is_failed_over_only_if_nothing_was_sent(peer):
    _, endpoint = peer
    live, dead = Connection(endpoint), Connection(_dead(endpoint))
    try:
        timed_out = _RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        mark = dead.mark()
        assert dead.unreachable(timed_out, mark)  # never connected: nothing was sent
        grpc.channel_ready_future(live.channel).result(timeout=5)
        deadline = time.monotonic() + 5
        while not live.mark()[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not live.unreachable(timed_out, live.mark())  # connected: the peer may be acting on it
        assert live.unreachable(_RpcError(grpc.StatusCode.UNAVAILABLE, "gone"), live.mark())
        assert not live.unreachable(_RpcError(grpc.StatusCode.ABORTED, "refused"), live.mark())
    finally:
        live.close()
        dead.close()


def test_commit_status_deadline_says_unknown(peer):
    service, endpoint = peer
    service.commit_delay = 2.0
    with connect(IDENTITY, SIGNER, [endpoint], timeouts=Timeouts(commit_status=0.5)) as gateway:
        submitted = gateway.get_network("ch").get_contract("cc").submit_async("PutValue", ["k", "v"])
        with pytest.raises(CommitStatusError, match="commit status unknown") as unknown:
            submitted.get_status()
    assert unknown.value.tx_id == submitted.tx_id


def _events_response(block: int, *tx_ids: str) -> gateway_pb2.ChaincodeEventsResponse:
    return gateway_pb2.ChaincodeEventsResponse(block_number=block, events=[
        chaincode_event_pb2.ChaincodeEvent(chaincode_id="cc", tx_id=tx, event_name="E", payload=tx.encode())
        for tx in tx_ids
    ])


def test_events_resume_right_after_the_checkpoint(peer):
    service, endpoint = peer
    service.events = [_events_response(4, "x"), _events_response(5, "a", "b"), _events_response(6, "c")]
    checkpointer = InMemoryCheckpointer()
    checkpointer.checkpoint_transaction(5, "a")
    with connect(IDENTITY, SIGNER, [endpoint]) as gateway:
        stream = gateway.get_network("ch").chaincode_events("cc", start_block=0, checkpointer=checkpointer)
        received: list[ChaincodeEvent] = []
        reader = threading.Thread(target=lambda: received.extend(stream), daemon=True)
        reader.start()
        deadline = time.monotonic() + 5
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stream.close()
        reader.join(5)
    assert [(e.block_number, e.transaction_id) for e in received] == [(5, "b"), (6, "c")]
    assert not reader.is_alive()
    request = gateway_pb2.ChaincodeEventsRequest.FromString(service.requests[0][1].request)
    assert request.start_position.specified.number == 5 and request.identity == IDENTITY.serialize()
