"""Typed errors, each carrying what the peers said, so callers can act on them.

The peer gateway reports a failure as a gRPC status whose rich form (trailing metadata
``grpc-status-details-bin``, a ``google.rpc.Status``) lists one ``gateway.ErrorDetail`` per node
it asked. ``details_from_rpc`` turns those into ``ErrorDetail``s, splitting the contract's own
status and message out of the gateway's "chaincode response 404, <message>" wording, so callers
see the contract's message and status as the peers returned them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import grpc
from fabric_protos.gateway import gateway_pb2
from google.rpc import status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d+), (.*)", re.DOTALL)
_GO_RPC_ERROR = re.compile(r"rpc error: code = (\w+) desc = ")


@dataclass
class ErrorDetail:
    """One node's answer: its address, its message and, for a contract's answer, its status."""

    address: str
    message: str
    status: int | None = None
    msp_id: str = ""


class GatewayError(Exception):
    """Base class; ``details`` lists each node's answer."""

    def __init__(self, message: str, details: list[ErrorDetail] | None = None, tx_id: str = "") -> None:
        self.details: list[ErrorDetail] = details or []
        self.tx_id = tx_id
        lines = [message] + [f"  {d.address}: {d.message}" for d in self.details]
        super().__init__("\n".join(lines))
        self.message = message

    @property
    def chaincode_message(self) -> str:
        """The contract's own refusal message, when a peer returned one."""
        for d in self.details:
            if d.status is not None and d.status >= 400:
                return d.message
        return self.message


class EvaluateError(GatewayError):
    """A query was refused or could not be run."""


class EndorseError(GatewayError):
    """The transaction proposal was not endorsed (chaincode error, policy, unreachable peers)."""


class SubmitError(GatewayError):
    """The endorsed transaction was not accepted for ordering."""


class CommitError(GatewayError):
    """The transaction was ordered but committed as invalid (e.g. MVCC_READ_CONFLICT)."""

    def __init__(self, message: str, tx_id: str, code: str, block_number: int) -> None:
        super().__init__(message, tx_id=tx_id)
        self.code = code
        self.block_number = block_number


class CommitStatusError(GatewayError):
    """The commit status could not be learned in time: the transaction may or may not commit."""


@dataclass
class Status:
    """Outcome of a committed transaction."""

    tx_id: str
    code: str
    block_number: int
    successful: bool = field(init=False)

    def __post_init__(self) -> None:
        self.successful = self.code == "VALID"


def detail(address: str, msp_id: str, message: str) -> ErrorDetail:
    """One gateway ErrorDetail: a contract's answer gets its status; a Go gRPC error ("rpc error:
    code = Unavailable desc = ...") is worded like ours ("UNAVAILABLE: ...")."""
    if match := _CHAINCODE_RESPONSE.match(message):
        return ErrorDetail(address, match.group(2), int(match.group(1)), msp_id)
    message = _GO_RPC_ERROR.sub(lambda m: re.sub(r"(?<!^)(?=[A-Z])", "_", m.group(1)).upper() + ": ", message)
    return ErrorDetail(address, message, None, msp_id)


def status_details(blob: bytes) -> list[ErrorDetail]:
    """The gateway ErrorDetails packed in a serialized ``google.rpc.Status``."""
    details = []
    for packed in status_pb2.Status.FromString(blob).details:
        unpacked = gateway_pb2.ErrorDetail()
        if packed.Unpack(unpacked):
            details.append(detail(unpacked.address, unpacked.msp_id, unpacked.message))
    return details


def details_from_rpc(exc: grpc.RpcError, address: str) -> list[ErrorDetail]:
    """What a failed call says about each node: the gateway's details, or the call's own status."""
    for key, value in exc.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and (details := status_details(value)):
            return details
    return [ErrorDetail(address, f"{exc.code().name}: {exc.details()}")]
