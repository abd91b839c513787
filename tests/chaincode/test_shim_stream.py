"""The shim's stream discipline, against a scripted peer over real gRPC.

The live-peer tests (tests/network) are the proof; this one pins the two failures seen in
fabric-chaincode-python — lost events and a stream broken by concurrent transactions —
to our shim's own code, fast and without a network.
"""
from __future__ import annotations

import queue
from concurrent import futures

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2 as shim_pb2, chaincode_shim_pb2_grpc, proposal_pb2
from fabric_protos.peer import proposal_response_pb2

from trainproof.chaincode.app import handler
from trainproof.chaincode.shim.server import ChaincodeService

Msg = shim_pb2.ChaincodeMessage
pytestmark = pytest.mark.unit


def _signed_proposal(tx_id: str) -> proposal_pb2.SignedProposal:
    creator = identities_pb2.SerializedIdentity(mspid="Org1MSP", id_bytes=b"cert").SerializeToString()
    header = common_pb2.Header(
        channel_header=common_pb2.ChannelHeader(tx_id=tx_id, channel_id="ch").SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=creator).SerializeToString(),
    )
    prop = proposal_pb2.Proposal(header=header.SerializeToString())
    return proposal_pb2.SignedProposal(proposal_bytes=prop.SerializeToString())


def _transaction(tx_id: str, *args: bytes) -> shim_pb2.ChaincodeMessage:
    return Msg(
        type=Msg.TRANSACTION, txid=tx_id, channel_id="ch",
        payload=chaincode_pb2.ChaincodeInput(args=list(args)).SerializeToString(),
        proposal=_signed_proposal(tx_id),
    )


@pytest.fixture()
def chaincode_stream():
    server = grpc.server(futures.ThreadPoolExecutor(4))
    chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(ChaincodeService("cc:1", handler(test_plumbing=True)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    outbox: queue.Queue = queue.Queue()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    replies = chaincode_shim_pb2_grpc.ChaincodeStub(channel).Connect(iter(outbox.get, None))
    yield outbox, replies
    outbox.put(None)
    channel.close()
    server.stop(0)


def test_registers_then_runs_100_concurrent_transactions_with_their_events(chaincode_stream):
    outbox, replies = chaincode_stream
    register = next(replies)
    assert register.type == Msg.REGISTER
    assert chaincode_pb2.ChaincodeID.FromString(register.payload).name == "cc:1"
    outbox.put(Msg(type=Msg.REGISTERED))
    outbox.put(Msg(type=Msg.READY))
    for i in range(100):
        outbox.put(_transaction(f"tx{i}", b"PutValue", f"k{i}".encode(), f"v{i}".encode()))

    completed: dict[str, shim_pb2.ChaincodeMessage] = {}
    puts: set[str] = set()
    for msg in replies:
        if msg.type == Msg.PUT_STATE:
            puts.add(msg.txid)
            outbox.put(Msg(type=Msg.RESPONSE, txid=msg.txid, channel_id=msg.channel_id))
        elif msg.type == Msg.COMPLETED:
            completed[msg.txid] = msg
            if len(completed) == 100:
                break
        else:
            pytest.fail(f"unexpected {Msg.Type.Name(msg.type)}")
    assert puts == set(completed) == {f"tx{i}" for i in range(100)}
    for tx_id, msg in completed.items():
        response = proposal_response_pb2.Response.FromString(msg.payload)
        assert response.status == 200, response.message
        assert msg.chaincode_event.event_name == "ValuePut"
        assert msg.chaincode_event.tx_id == tx_id


def test_refusal_returns_an_error_response_without_an_event(chaincode_stream):
    outbox, replies = chaincode_stream
    next(replies)
    outbox.put(_transaction("bad", b"PutValue", b"fail:x", b"v"))
    msg = next(replies)
    assert msg.type == Msg.COMPLETED
    response = proposal_response_pb2.Response.FromString(msg.payload)
    assert response.status == 400 and "rejected on purpose" in response.message
    assert not msg.HasField("chaincode_event")
