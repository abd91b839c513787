"""The chaincode stub: what a contract may ask of the ledger during one transaction.

Contracts are written against this interface only, so the same contract code runs on the
real peer (``trainproof.chaincode.shim.peer_stub``) and on the in-memory stub used by fast unit tests.
Everything here is deterministic across endorsing peers: no clocks, no randomness.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Iterator

COMPOSITE_KEY_NAMESPACE = "\x00"
MIN_UNICODE_RUNE = "\x00"
MAX_UNICODE_RUNE = "\U0010ffff"
# Keys starting with 0x00 are composite; plain range queries start after them, as the Go shim does.
EMPTY_KEY_SUBSTITUTE = "\x01"


@dataclass(frozen=True)
class Creator:
    """The transaction's signer, as the peer saw it (already validated by the peer)."""

    mspid: str
    cert_pem: bytes


@dataclass(frozen=True)
class KeyModification:
    """One entry of a key's history."""

    tx_id: str
    value: bytes
    timestamp: float  # seconds since the epoch, from the transaction's header
    is_delete: bool


class ChaincodeError(Exception):
    """An expected refusal: returned to the client as an error response, state untouched."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Stub(abc.ABC):
    """Ledger access for one transaction (Fabric's ChaincodeStubInterface, the subset we use)."""

    tx_id: str
    channel_id: str
    function: str
    args: list[bytes]  # arguments after the function name
    tx_timestamp: float  # seconds since the epoch, set by the client in the proposal header

    @abc.abstractmethod
    def get_creator(self) -> Creator: ...

    @abc.abstractmethod
    def peer_time(self) -> float:
        """This endorsing peer's own clock (seconds since the epoch).

        Only for refusals: peers' clocks differ, so a result must never depend on it, but a
        check that refuses a transaction stamped far from it is safe (the client then lacks
        matching endorsements and nothing commits).
        """

    @abc.abstractmethod
    def get_state(self, key: str) -> bytes | None:
        """Committed value of ``key`` (writes of this transaction are not visible), or None."""

    @abc.abstractmethod
    def put_state(self, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    def del_state(self, key: str) -> None: ...

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        """Keys in [start, end) in order; '' means unbounded. Composite keys are excluded."""
        return self._composite_range(start or EMPTY_KEY_SUBSTITUTE, end)

    def get_state_by_range_with_pagination(
        self, start: str, end: str, page_size: int, bookmark: str
    ) -> tuple[list[tuple[str, bytes]], str]:
        """One page of a range query and the bookmark of the next page ('' when done)."""
        return self._composite_range_page(start or EMPTY_KEY_SUBSTITUTE, end, page_size, bookmark)

    @abc.abstractmethod
    def get_history_for_key(self, key: str) -> Iterator[KeyModification]:
        """Every committed change of ``key``, newest first."""

    @abc.abstractmethod
    def set_event(self, name: str, payload: bytes) -> None:
        """Fabric keeps one event per transaction: a second call replaces the first."""

    # Composite keys follow Fabric's encoding so the same keys work with any SDK.
    @staticmethod
    def create_composite_key(object_type: str, attributes: list[str]) -> str:
        for part in [object_type, *attributes]:
            if MIN_UNICODE_RUNE in part or MAX_UNICODE_RUNE in part:
                raise ChaincodeError(f"composite key part {part!r} holds a reserved character")
        return COMPOSITE_KEY_NAMESPACE + object_type + MIN_UNICODE_RUNE + "".join(
            a + MIN_UNICODE_RUNE for a in attributes
        )

    @staticmethod
    def split_composite_key(key: str) -> tuple[str, list[str]]:
        parts = key[1:].split(MIN_UNICODE_RUNE)
        return parts[0], parts[1:-1]

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: list[str]
    ) -> Iterator[tuple[str, bytes]]:
        start = self.create_composite_key(object_type, attributes)
        return self._composite_range(start, start + MAX_UNICODE_RUNE)

    def get_state_by_partial_composite_key_with_pagination(
        self, object_type: str, attributes: list[str], page_size: int, bookmark: str
    ) -> tuple[list[tuple[str, bytes]], str]:
        start = self.create_composite_key(object_type, attributes)
        return self._composite_range_page(start, start + MAX_UNICODE_RUNE, page_size, bookmark)

    @abc.abstractmethod
    def _composite_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]: ...

    @abc.abstractmethod
    def _composite_range_page(
        self, start: str, end: str, page_size: int, bookmark: str
    ) -> tuple[list[tuple[str, bytes]], str]: ...
