"""Building Fabric's protobuf messages: proposals, transactions and deliver requests.

Pure functions of their inputs (plus a fresh nonce), so they can be tested without a network
and signed offline.
"""
from __future__ import annotations

import hashlib
import os
import time

from google.protobuf import timestamp_pb2
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2

MAX_BLOCK = 2**64 - 1


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ns = time.time_ns()
    ts.seconds, ts.nanos = ns // 1_000_000_000, ns % 1_000_000_000
    return ts


def new_nonce() -> bytes:
    return os.urandom(24)


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's rule: hex SHA-256 of nonce ‖ serialized creator."""
    return hashlib.sha256(nonce + creator).hexdigest()


def _header(header_type: int, channel: str, creator: bytes, nonce: bytes, tx_id: str, extension: bytes = b"") -> common_pb2.Header:
    channel_header = common_pb2.ChannelHeader(
        type=header_type, version=0, timestamp=_now(), channel_id=channel, tx_id=tx_id, epoch=0, extension=extension
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    return common_pb2.Header(
        channel_header=channel_header.SerializeToString(), signature_header=signature_header.SerializeToString()
    )


def proposal(
    channel: str, chaincode: str, args: list[bytes], creator: bytes, transient: dict[str, bytes] | None = None
) -> tuple[proposal_pb2.Proposal, str]:
    """An endorser proposal invoking ``chaincode`` with ``args`` (function name first)."""
    nonce = new_nonce()
    tx_id = transaction_id(nonce, creator)
    cc_id = chaincode_pb2.ChaincodeID(name=chaincode)
    extension = proposal_pb2.ChaincodeHeaderExtension(chaincode_id=cc_id).SerializeToString()
    header = _header(common_pb2.ENDORSER_TRANSACTION, channel, creator, nonce, tx_id, extension)
    spec = chaincode_pb2.ChaincodeSpec(
        type=chaincode_pb2.ChaincodeSpec.GOLANG, chaincode_id=cc_id, input=chaincode_pb2.ChaincodeInput(args=args)
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=spec).SerializeToString(),
        TransientMap=transient or {},
    )
    return proposal_pb2.Proposal(header=header.SerializeToString(), payload=payload.SerializeToString()), tx_id


def transaction_payload(
    prop: proposal_pb2.Proposal, responses: list[proposal_response_pb2.ProposalResponse]
) -> common_pb2.Payload:
    """The transaction envelope's payload: the proposal plus every endorsement."""
    header = common_pb2.Header.FromString(prop.header)
    cc_payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
    # Transient data must never reach the ledger.
    public_payload = proposal_pb2.ChaincodeProposalPayload(input=cc_payload.input).SerializeToString()
    endorsed = transaction_pb2.ChaincodeEndorsedAction(
        proposal_response_payload=responses[0].payload, endorsements=[r.endorsement for r in responses]
    )
    action_payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=public_payload, action=endorsed
    )
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(header=header.signature_header, payload=action_payload.SerializeToString())]
    )
    return common_pb2.Payload(header=header, data=tx.SerializeToString())


def seek_payload(channel: str, creator: bytes, start: int | None, stop: int | None = MAX_BLOCK) -> common_pb2.Payload:
    """A deliver request from block ``start`` to ``stop`` (None = the newest block, for either)."""
    nonce = new_nonce()
    header = _header(common_pb2.DELIVER_SEEK_INFO, channel, creator, nonce, transaction_id(nonce, creator))
    seek = ab_pb2.SeekInfo(
        start=_position(start),
        stop=_position(stop),
        behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
    )
    return common_pb2.Payload(header=header, data=seek.SerializeToString())


def _position(block: int | None) -> ab_pb2.SeekPosition:
    if block is None:
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=block))
