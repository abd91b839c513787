"""Building Fabric's protobuf messages: proposals, Gateway requests and deliver requests.

Pure functions of their inputs (plus a fresh nonce), so they can be tested without a network
and signed offline. The peer gateway assembles the transaction from the endorsements;
``endorsed_result`` checks that what it hands back for signing is our own proposal.
"""
from __future__ import annotations

import hashlib
import os
import time

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2

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


def evaluate_request(tx_id: str, channel: str, signed: proposal_pb2.SignedProposal) -> gateway_pb2.EvaluateRequest:
    return gateway_pb2.EvaluateRequest(transaction_id=tx_id, channel_id=channel, proposed_transaction=signed)


def endorse_request(tx_id: str, channel: str, signed: proposal_pb2.SignedProposal,
                    endorsing_orgs: list[str]) -> gateway_pb2.EndorseRequest:
    """``endorsing_orgs`` empty: the gateway chooses the endorsers (discovery)."""
    return gateway_pb2.EndorseRequest(transaction_id=tx_id, channel_id=channel, proposed_transaction=signed,
                                      endorsing_organizations=endorsing_orgs)


def submit_request(tx_id: str, channel: str, envelope: common_pb2.Envelope) -> gateway_pb2.SubmitRequest:
    return gateway_pb2.SubmitRequest(transaction_id=tx_id, channel_id=channel, prepared_transaction=envelope)


def commit_status_request(channel: str, tx_id: str, creator: bytes) -> bytes:
    """The serialized CommitStatusRequest: what a SignedCommitStatusRequest signs."""
    return gateway_pb2.CommitStatusRequest(transaction_id=tx_id, channel_id=channel, identity=creator).SerializeToString()


def chaincode_events_request(channel: str, chaincode: str, creator: bytes, start: int | None) -> bytes:
    """The serialized ChaincodeEventsRequest from block ``start`` (None: the next block to commit)."""
    position = (ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit()) if start is None
                else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start)))
    return gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel, chaincode_id=chaincode, identity=creator, start_position=position
    ).SerializeToString()


def endorsed_result(payload: bytes, prop: proposal_pb2.Proposal) -> bytes:
    """The chaincode's result in the gateway's prepared transaction (an Envelope payload), after
    checking that it is ``prop``'s transaction (same header and input) and carries no transient
    data, which must never reach the ledger. Raises ValueError otherwise."""
    tx_payload = common_pb2.Payload.FromString(payload)
    if tx_payload.header != common_pb2.Header.FromString(prop.header):
        raise ValueError("the prepared transaction has another header than the proposal")
    actions = transaction_pb2.Transaction.FromString(tx_payload.data).actions
    if len(actions) != 1:
        raise ValueError(f"the prepared transaction has {len(actions)} actions, not 1")
    action = transaction_pb2.ChaincodeActionPayload.FromString(actions[0].payload)
    cc_payload = proposal_pb2.ChaincodeProposalPayload.FromString(action.chaincode_proposal_payload)
    if cc_payload.TransientMap:
        raise ValueError("the prepared transaction carries transient data")
    if cc_payload.input != proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload).input:
        raise ValueError("the prepared transaction invokes something else than the proposal")
    response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
        action.action.proposal_response_payload)
    return bytes(proposal_pb2.ChaincodeAction.FromString(response_payload.extension).response.payload)


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
