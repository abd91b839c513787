"""Typed errors, each carrying what the peers or orderers said, so callers can act on them."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ErrorDetail:
    """One node's answer: its address and its message."""

    address: str
    message: str
    status: int | None = None


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
    """No orderer accepted the endorsed transaction."""


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
