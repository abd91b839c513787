"""Chaincode events as the peer gateway's ChaincodeEvents service delivers them, and resuming
exactly after a checkpoint.

The gateway sends one response per block that has events of the chaincode (valid transactions
only, in block order). Resuming after a checkpoint is done here, not with the request's
``after_transaction_id``: the gateway drops every later event, in every block, if that
transaction emitted none, and a checkpoint may name any transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.gateway import gateway_pb2


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


def events_of(response: gateway_pb2.ChaincodeEventsResponse) -> list[ChaincodeEvent]:
    return [
        ChaincodeEvent(response.block_number, e.tx_id, e.chaincode_id, e.event_name, bytes(e.payload))
        for e in response.events
    ]


def after_checkpoint(events: list[ChaincodeEvent], block_number: int | None, transaction_id: str) -> list[ChaincodeEvent]:
    """The events still to handle after a checkpoint at (``block_number``, ``transaction_id``):
    in that block, those after the transaction (none if it emitted none: its place among them is
    then unknown); other blocks' events all."""
    if not transaction_id or not events or events[0].block_number != block_number:
        return events
    handled = [i for i, e in enumerate(events) if e.transaction_id == transaction_id]
    return events[handled[-1] + 1:] if handled else []
