"""An in-memory ledger and ``Stub`` for fast unit tests of the contract.

It keeps the Fabric semantics a contract can trip over, so a test that passes here means
something on the peer too:

* reads see committed state only; a transaction's writes apply at commit, all or nothing;
* a transaction that raises applies nothing (and its buffered writes stay inspectable, so tests
  can check the contract validated before it wrote);
* commit runs Fabric's MVCC check: every key read (present or absent) must still have the version
  it had during simulation, and every range read must return the same keys (phantom check);
* one event per transaction (a second ``set_event`` replaces the first);
* no writes after a paginated query (Fabric allows pagination in read-only transactions only);
* history per key, newest first; plain range queries skip composite keys.
"""
from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator

from trainproof.chaincode.shim.stub import (
    COMPOSITE_KEY_NAMESPACE,
    ChaincodeError,
    Creator,
    KeyModification,
    Stub,
)

Contract = Callable[[Stub], bytes]


class MVCCReadConflict(Exception):
    """Commit refused: something this transaction read changed after it was simulated."""


@dataclass
class _Entry:
    value: bytes
    version: int


@dataclass
class Endorsement:
    """A simulated transaction: its stub (reads, writes, event) and what the contract returned."""

    stub: "MemoryStub"
    response: bytes | None = None
    error: ChaincodeError | None = None


@dataclass
class MemoryLedger:
    """Committed world state plus history; hands out one ``MemoryStub`` per transaction."""

    channel_id: str = "trainproof"
    clock: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the peer's clock; tests move it explicitly
    events: list[tuple[str, str, bytes]] = field(default_factory=list)  # (tx_id, name, payload)
    _state: dict[str, _Entry] = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list)  # sorted, for range queries
    _history: dict[str, list[KeyModification]] = field(default_factory=dict)
    _height: int = 0
    _tx_ids: set[str] = field(default_factory=set)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def stub(
        self,
        creator: Creator,
        function: str,
        args: list[bytes | str],
        *,
        tx_id: str | None = None,
        timestamp: float | None = None,
    ) -> "MemoryStub":
        tx_id = tx_id or f"tx{next(self._counter):06d}"
        encoded = [a.encode("utf-8") if isinstance(a, str) else a for a in args]
        return MemoryStub(self, creator, function, encoded, tx_id, self.clock if timestamp is None else timestamp)

    def endorse(self, contract: Contract, creator: Creator, function: str, args: list[bytes | str], **kw) -> Endorsement:
        """Simulate a transaction against committed state without committing it."""
        stub = self.stub(creator, function, args, **kw)
        try:
            return Endorsement(stub, response=contract(stub))
        except ChaincodeError as exc:
            return Endorsement(stub, error=exc)

    def commit(self, endorsement: Endorsement) -> bytes:
        """Validate and apply an endorsed transaction; a refused one raises its ChaincodeError."""
        if endorsement.error is not None:
            raise endorsement.error
        self.apply(endorsement.stub)
        assert endorsement.response is not None
        return endorsement.response

    def invoke(self, contract: Contract, creator: Creator, function: str, args: list[bytes | str], **kw) -> bytes:
        """Endorse and commit at once: the usual path for a test."""
        return self.commit(self.endorse(contract, creator, function, args, **kw))

    def apply(self, stub: "MemoryStub") -> None:
        if stub.tx_id in self._tx_ids:
            raise MVCCReadConflict(f"duplicate transaction id {stub.tx_id}")
        for key, version in stub.reads.items():
            if self._version(key) != version:
                raise MVCCReadConflict(f"key {key!r} changed since transaction {stub.tx_id} read it")
        for start, end, seen in stub.range_reads:
            if [(k, self._state[k].version) for k in self._range_keys(start, end)] != seen:
                raise MVCCReadConflict(f"range [{start!r}, {end!r}) changed (phantom read) in {stub.tx_id}")
        self._height += 1
        self._tx_ids.add(stub.tx_id)
        for key in sorted(stub.writes):
            value = stub.writes[key]
            history = self._history.setdefault(key, [])
            if value is None:
                if key in self._state:
                    del self._state[key]
                    self._keys.remove(key)
                history.append(KeyModification(stub.tx_id, b"", stub.tx_timestamp, True))
                continue
            if key not in self._state:
                bisect.insort(self._keys, key)
            self._state[key] = _Entry(value, self._height)
            history.append(KeyModification(stub.tx_id, value, stub.tx_timestamp, False))
        if stub.event is not None:
            self.events.append((stub.tx_id, *stub.event))

    def snapshot(self) -> tuple[dict[str, bytes], dict[str, list[KeyModification]], int]:
        """Everything a transaction could change, for 'state unchanged' assertions."""
        return (
            {k: e.value for k, e in self._state.items()},
            {k: list(h) for k, h in self._history.items()},
            len(self.events),
        )

    def committed(self, key: str) -> bytes | None:
        entry = self._state.get(key)
        return entry.value if entry else None

    def _version(self, key: str) -> int | None:
        entry = self._state.get(key)
        return entry.version if entry else None

    def _range_keys(self, start: str, end: str) -> list[str]:
        """Keys in [start, end); a range that starts outside the composite namespace skips it."""
        lo = bisect.bisect_left(self._keys, start)
        hi = len(self._keys) if end == "" else bisect.bisect_left(self._keys, end)
        keys = self._keys[lo:hi]
        if start.startswith(COMPOSITE_KEY_NAMESPACE):
            return keys
        return [k for k in keys if not k.startswith(COMPOSITE_KEY_NAMESPACE)]


class MemoryStub(Stub):
    """One transaction's view of a ``MemoryLedger``."""

    def __init__(
        self, ledger: MemoryLedger, creator: Creator, function: str, args: list[bytes], tx_id: str, timestamp: float
    ) -> None:
        self.ledger = ledger
        self._creator = creator
        self.function = function
        self.args = args
        self.tx_id = tx_id
        self.channel_id = ledger.channel_id
        self.tx_timestamp = timestamp
        self.reads: dict[str, int | None] = {}
        self.range_reads: list[tuple[str, str, list[tuple[str, int]]]] = []
        self.writes: dict[str, bytes | None] = {}  # None marks a delete
        self.event: tuple[str, bytes] | None = None
        self._paginated = False

    def get_creator(self) -> Creator:
        return self._creator

    def peer_time(self) -> float:
        return self.ledger.clock

    def get_state(self, key: str) -> bytes | None:
        self._check_key(key)
        self.reads.setdefault(key, self.ledger._version(key))
        return self.ledger.committed(key)

    def put_state(self, key: str, value: bytes) -> None:
        self._check_write(key)
        if not isinstance(value, bytes) or not value:
            # On Fabric an empty value reads back as absent: never rely on it.
            raise ValueError(f"put_state({key!r}) needs non-empty bytes")
        self.writes[key] = value

    def del_state(self, key: str) -> None:
        self._check_write(key)
        self.writes[key] = None

    def get_history_for_key(self, key: str) -> Iterator[KeyModification]:
        self._check_key(key)
        return iter(reversed(self.ledger._history.get(key, [])))

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ChaincodeError("set_event needs an event name")
        self.event = (name, payload)

    def _composite_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        keys = self.ledger._range_keys(start, end)
        self.range_reads.append((start, end, [(k, self.ledger._state[k].version) for k in keys]))
        return iter([(k, self.ledger._state[k].value) for k in keys])

    def _composite_range_page(
        self, start: str, end: str, page_size: int, bookmark: str
    ) -> tuple[list[tuple[str, bytes]], str]:
        if page_size <= 0:
            raise ChaincodeError("page size must be positive")
        self._paginated = True
        keys = self.ledger._range_keys(bookmark or start, end)
        rows = [(k, self.ledger._state[k].value) for k in keys[:page_size]]
        return rows, keys[page_size] if len(keys) > page_size else ""

    def _check_key(self, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("ledger keys are non-empty strings")
        key.encode("utf-8")  # the peer needs valid UTF-8; a lone surrogate fails here as it would there

    def _check_write(self, key: str) -> None:
        self._check_key(key)
        if self._paginated:
            raise ChaincodeError("writes are not allowed after a paginated query (Fabric)", 500)
