"""JSON in and out of the ledger.

Both orgs' peers must produce byte-identical results, so everything written or returned is
canonical JSON (sorted keys, no whitespace, ASCII). Everything read from a client is parsed
strictly: no NaN/Infinity, no duplicate keys, bounded nesting, no lone surrogates (a key holding
one cannot be sent to the peer as UTF-8).
"""
from __future__ import annotations

import json
import math
from typing import Any

from trainproof.chaincode.shim.stub import ChaincodeError

MAX_DEPTH = 32


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def load(raw: bytes) -> Any:
    """Parse a value this contract wrote itself (trusted, canonical)."""
    return json.loads(raw)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key[:64]!r}")
        obj[key] = value
    return obj


def parse_json(text: str, what: str) -> Any:
    """Parse client JSON; any defect becomes a ChaincodeError naming ``what``."""
    try:
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ChaincodeError(f"{what} is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, over-long integers, our hooks
        raise ChaincodeError(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    _check_tree(value, what)
    return value


def _check_tree(value: Any, what: str) -> None:
    """Iterative walk: nesting depth, finite floats, strings the peer can carry as UTF-8."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ChaincodeError(f"{what} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, what)
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            _check_text(node, what)
        elif isinstance(node, float) and not math.isfinite(node):  # 1e999 parses as inf
            raise ChaincodeError(f"{what} holds a number out of range")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ChaincodeError(f"{what} holds a string that is not valid Unicode (lone surrogate)") from None
