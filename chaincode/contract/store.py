"""Reading and writing JSON records: canonical bytes on the way in, parsed on the way out."""
from __future__ import annotations

from typing import Any, Iterator

from trainproof.chaincode.contract.codec import canonical, load
from trainproof.chaincode.shim.stub import Stub


def get(stub: Stub, key: str) -> Any | None:
    raw = stub.get_state(key)
    return None if raw is None else load(raw)


def put(stub: Stub, key: str, record: Any) -> None:
    stub.put_state(key, canonical(record))


def scan(stub: Stub, object_type: str, *attributes: str) -> Iterator[tuple[list[str], Any]]:
    """Records under a partial composite key, as (attributes, parsed value), in key order."""
    for key, raw in stub.get_state_by_partial_composite_key(object_type, list(attributes)):
        yield Stub.split_composite_key(key)[1], load(raw)


def scan_keys(stub: Stub, object_type: str, *attributes: str) -> Iterator[list[str]]:
    """Attributes of the keys under a partial composite key (for index entries)."""
    for key, _ in stub.get_state_by_partial_composite_key(object_type, list(attributes)):
        yield Stub.split_composite_key(key)[1]
