"""Transaction arguments: size limit, count, and the formats of the plain-string ones.

Every defect is a ChaincodeError whose message says which argument broke which rule; the router
prefixes the transaction name.
"""
from __future__ import annotations

import re
from typing import Any

from trainproof.chaincode.contract.codec import parse_json
from trainproof.chaincode.shim.stub import ChaincodeError

MAX_ARG_BYTES = 1 << 20  # 1 MiB per argument
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
INTERVAL_RE = re.compile(r"0|[1-9][0-9]{0,7}")  # canonical decimal, below 10^8


def check_sizes(args: list[bytes]) -> None:
    for position, arg in enumerate(args, 1):
        if len(arg) > MAX_ARG_BYTES:
            raise ChaincodeError(
                f"size limit: argument {position} is {len(arg)} bytes, the limit is {MAX_ARG_BYTES} bytes (1 MiB)", 413
            )


def texts(args: list[bytes], usage: str, minimum: int, maximum: int) -> list[str]:
    """Decode the arguments as UTF-8 after checking their count against ``usage``."""
    if not minimum <= len(args) <= maximum:
        expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise ChaincodeError(f"arguments: expected {expected} argument(s), got {len(args)}; usage: {usage}")
    decoded = []
    for position, arg in enumerate(args, 1):
        try:
            decoded.append(arg.decode("utf-8"))
        except UnicodeDecodeError:
            raise ChaincodeError(f"arguments: argument {position} is not UTF-8 text; usage: {usage}") from None
    return decoded


def model_id(text: str) -> str:
    if not UUID_RE.fullmatch(text):
        raise ChaincodeError(f"model id: {text[:80]!r} is not a lowercase UUID (8-4-4-4-12 hex digits)")
    return text


def fingerprint(text: str) -> str:
    if not HEX64_RE.fullmatch(text):
        raise ChaincodeError(f"fingerprint: {text[:80]!r} is not 64 lowercase hex digits (SHA-256 of the DER certificate)")
    return text


def interval(text: str) -> int:
    if not INTERVAL_RE.fullmatch(text):
        raise ChaincodeError(f"interval: {text[:80]!r} is not a non-negative decimal integer below 10^8")
    return int(text)


def json_object(text: str, what: str) -> dict[str, Any]:
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise ChaincodeError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def optional_json_object(text: str | None, what: str) -> dict[str, Any]:
    """An optional trailing argument: absent or empty means ``{}``."""
    return {} if text is None or text.strip() == "" else json_object(text, what)
