"""Reading the ledger as a peer (system chaincode qscc) and as an orderer (its Deliver service)
holds it, to check that a node caught up exactly."""
from __future__ import annotations

from typing import Iterator

import grpc
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc
from fabric_protos.peer import transaction_pb2

from trainproof.gateway import Endpoint, Gateway, messages
from trainproof.gateway.identity import digest


def height(gateway: Gateway, channel: str) -> int:
    qscc = gateway.get_network(channel).get_contract("qscc")
    return ledger_pb2.BlockchainInfo.FromString(qscc.evaluate("GetChainInfo", [channel])).height


def endorser_msps(gateway: Gateway, channel: str, tx_id: str) -> set[str]:
    qscc = gateway.get_network(channel).get_contract("qscc")
    processed = transaction_pb2.ProcessedTransaction.FromString(qscc.evaluate("GetTransactionByID", [channel, tx_id]))
    payload = common_pb2.Payload.FromString(processed.transactionEnvelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    return {identities_pb2.SerializedIdentity.FromString(e.endorser).mspid for e in action.action.endorsements}


def peer_block_header(gateway: Gateway, channel: str, number: int) -> common_pb2.BlockHeader:
    """Block ``number``'s header (number, previous hash, data hash) from the gateway's peer."""
    qscc = gateway.get_network(channel).get_contract("qscc")
    return common_pb2.Block.FromString(qscc.evaluate("GetBlockByNumber", [channel, str(number)])).header


def _orderer_deliver(gateway: Gateway, orderer: Endpoint, channel: str,
                     number: int | None) -> Iterator[ab_pb2.DeliverResponse]:
    """The orderer's answers to a request for block ``number`` (None: its newest)."""
    payload = messages.seek_payload(channel, gateway.identity.serialize(), number, number).SerializeToString()
    envelope = common_pb2.Envelope(payload=payload, signature=gateway.signer(digest(payload)))
    grpc_channel = orderer.open_channel()
    try:
        yield from ab_pb2_grpc.AtomicBroadcastStub(grpc_channel).Deliver(iter([envelope]), timeout=10)
    finally:
        grpc_channel.close()


def orderer_height(gateway: Gateway, orderer: Endpoint, channel: str) -> int:
    """Height of the orderer's copy of the channel (newest block number + 1), 0 if it can't tell."""
    try:
        for response in _orderer_deliver(gateway, orderer, channel, None):
            if response.WhichOneof("Type") == "block":
                return response.block.header.number + 1
        return 0  # a status instead of a block: not serving the channel (yet)
    except grpc.RpcError:
        return 0  # not listening (yet)


def orderer_block_header(gateway: Gateway, orderer: Endpoint, channel: str, number: int) -> common_pb2.BlockHeader:
    """Block ``number``'s header from the orderer's own copy of the channel."""
    for response in _orderer_deliver(gateway, orderer, channel, number):
        if response.WhichOneof("Type") == "block":
            return response.block.header
        raise AssertionError(f"{orderer.label} has no block {number}: {common_pb2.Status.Name(response.status)}")
    raise AssertionError(f"{orderer.label} sent nothing for block {number}")
