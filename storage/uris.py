"""Content addresses: every object lives under ``sha256/<hex>`` and is named ``s3://<bucket>/sha256/<hex>``.

The ledger records these URIs, so their shape is fixed here and nowhere else.
"""
from __future__ import annotations

import re

from trainproof.storage.errors import StorageError

SNAPSHOTS, DATASETS, EVIDENCE = "snapshots", "datasets", "evidence"
BUCKETS = (SNAPSHOTS, DATASETS, EVIDENCE)

_HEX = re.compile(r"[0-9a-f]{64}")
_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/sha256/([0-9a-fA-F]{64})")


def check_sha256(value: str) -> str:
    """The digest in canonical form (64 lower-case hex digits); anything else is a caller bug."""
    digest = value.strip().lower()
    if not _HEX.fullmatch(digest):
        raise StorageError(f"{value!r} is not a SHA-256 hex digest (64 hex digits)")
    return digest


def object_key(sha256: str) -> str:
    return f"sha256/{sha256}"


def make_uri(bucket: str, sha256: str) -> str:
    return f"s3://{bucket}/{object_key(sha256)}"


def parse(uri_or_sha: str) -> tuple[str | None, str]:
    """``(bucket, sha256)`` from a URI, or ``(None, sha256)`` from a bare digest."""
    text = uri_or_sha.strip()
    if text.startswith("s3://"):
        match = _URI.fullmatch(text)
        if not match:
            raise StorageError(f"{uri_or_sha!r} is not an artifact URI (s3://<bucket>/sha256/<64 hex digits>)")
        return match.group(1), match.group(2).lower()
    return None, check_sha256(text)
