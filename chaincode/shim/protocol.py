"""Decoding of what the peer sends with a transaction: the signed proposal's header fields."""
from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2

from trainproof.chaincode.shim.stub import Creator


@dataclass(frozen=True)
class ProposalInfo:
    tx_id: str
    channel_id: str
    timestamp: float
    creator: Creator


def decode_signed_proposal(signed_proposal: proposal_pb2.SignedProposal) -> ProposalInfo:
    """Pull the creator and the client-set timestamp out of the proposal the peer forwarded."""
    proposal = proposal_pb2.Proposal.FromString(signed_proposal.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    identity = identities_pb2.SerializedIdentity.FromString(signature_header.creator)
    ts = channel_header.timestamp
    return ProposalInfo(
        tx_id=channel_header.tx_id,
        channel_id=channel_header.channel_id,
        timestamp=ts.seconds + ts.nanos / 1e9,
        creator=Creator(mspid=identity.mspid, cert_pem=bytes(identity.id_bytes)),
    )
