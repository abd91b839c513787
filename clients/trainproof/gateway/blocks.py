"""Reading blocks: transaction validation codes and chaincode events."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


def validation_code_name(code: int) -> str:
    return transaction_pb2.TxValidationCode.Name(code)


def chaincode_events(block: common_pb2.Block) -> Iterator[ChaincodeEvent]:
    """Events of the block's valid endorser transactions, in block order."""
    flags = block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER]
    for index, envelope_bytes in enumerate(block.data.data):
        if index < len(flags) and flags[index] != transaction_pb2.VALID:
            continue
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(envelope_bytes).payload)
        channel_header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if channel_header.type != common_pb2.ENDORSER_TRANSACTION:
            continue
        tx = transaction_pb2.Transaction.FromString(payload.data)
        for action in tx.actions:
            action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
            response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
                action_payload.action.proposal_response_payload
            )
            cc_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
            if not cc_action.events:
                continue
            event = chaincode_event_pb2.ChaincodeEvent.FromString(cc_action.events)
            yield ChaincodeEvent(
                block_number=block.header.number,
                transaction_id=channel_header.tx_id,
                chaincode_name=cc_action.chaincode_id.name or event.chaincode_id,
                event_name=event.event_name,
                payload=bytes(event.payload),
            )
