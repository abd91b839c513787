"""Fetching one object version into place only if its bytes have the expected SHA-256.

The bytes go to a hidden file beside the destination while being hashed; only a match is renamed
into place (atomic on one filesystem), anything else is deleted. A broken connection resumes from the
last byte received, on the same pinned version, so the running hash stays valid.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Callable

from minio import Minio

from trainproof.storage.errors import IntegrityError
from trainproof.storage.hashing import CHUNK
from trainproof.storage.progress import Meter
from trainproof.storage.retry import RetryPolicy
from trainproof.storage.uris import make_uri, object_key
from trainproof.storage.versions import Stored


def partial_path(dest: Path) -> Path:
    """A hidden name next to ``dest`` for bytes not yet verified."""
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")


def _chunk(offset: int) -> int:
    return CHUNK


def receive(client: Minio, bucket: str, sha256: str, stored: Stored, consume: Callable[[bytes], None],
            meter: Meter, retry: RetryPolicy, read_size: Callable[[int], int] = _chunk) -> None:
    """Stream ``sha256/<sha256>`` (the version ``stored``) into ``consume``; it checks nothing itself.

    What makes the bytes trustworthy is the caller's to check as they pass through ``consume``:
    their SHA-256 (`download_verified`), or each sealed chunk's tag and the plaintext's SHA-256
    (`sealed.download_sealed`). A broken connection resumes from the last byte received, so
    ``consume`` sees every byte once, in order, and a running hash stays valid. ``read_size`` says how
    many bytes to read from a given offset of the object: each piece handed to ``consume`` is one read
    (shorter only at the end), so a consumer can choose where pieces end.
    """
    received = 0

    def fetch_rest() -> None:
        nonlocal received
        if received and received >= stored.size:
            return  # everything arrived before the connection broke
        response = client.get_object(bucket, object_key(sha256), offset=received, version_id=stored.version_id)
        try:
            while chunk := response.read(read_size(received)):
                consume(chunk)
                received += len(chunk)
                meter.advance(len(chunk))
        finally:
            response.close()
            response.release_conn()

    retry.run(fetch_rest, f"download {make_uri(bucket, sha256)}")


def altered(uri: str, stored: Stored, expected: str, actual: str, dest: Path, which: str = "object") -> IntegrityError:
    """The error for stored bytes that do not hash to the expected SHA-256."""
    version = f" (version {stored.version_id})" if stored.version_id else ""
    what = "its bytes" if which == "object" else f"its {which} bytes"
    return IntegrityError(
        f"{uri}{version} was altered in MinIO: expected SHA-256 {expected}, {what} have {actual}; "
        f"they were discarded and nothing was written to {dest}. Report it: the ledger's hash is the "
        f"reference, and the stored object cannot be trusted", object_uri=uri, expected=expected, actual=actual,
        which=which)


def download_verified(client: Minio, bucket: str, sha256: str, stored: Stored, dest: Path, meter: Meter,
                      retry: RetryPolicy) -> Path:
    """Fetch ``sha256/<sha256>`` (the version ``stored``) to ``dest``; IntegrityError unless its bytes hash to it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(dest)
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:

            def keep(chunk: bytes) -> None:
                out.write(chunk)
                digest.update(chunk)

            receive(client, bucket, sha256, stored, keep, meter, retry)
            out.flush()
            os.fsync(out.fileno())  # what is renamed into place must be what was hashed, even after a crash
        actual = digest.hexdigest()
        if actual != sha256:
            raise altered(make_uri(bucket, sha256), stored, sha256, actual, dest)
        os.replace(partial, dest)
        return dest
    finally:
        partial.unlink(missing_ok=True)
