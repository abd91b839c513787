"""Which stored version of ``sha256/<hex>`` is the one the key promises.

Buckets are versioned and object-locked, and org keys may not delete, so nothing written is ever lost.
But S3 policies cannot forbid a second PUT to an existing key: it becomes the newest version. So a
reader does not simply take the newest bytes; it takes a version whose SHA-256, computed by MinIO when
the bytes arrived (see `upload`), is the key's own. A later write of other bytes under the key is
therefore ignored, and the original stays readable.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

from minio import Minio
from minio.error import S3Error

from trainproof.storage.uris import object_key

_CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}


@dataclass(frozen=True)
class Stored:
    """One version of an object."""

    version_id: str | None
    size: int
    sha256: str | None  # as MinIO computed it on upload; None if written without a checksum


def _stat(client: Minio, bucket: str, key: str, version_id: str | None = None) -> Stored | None:
    try:
        info = client.stat_object(bucket, key, version_id=version_id, extra_headers=_CHECKSUM_MODE)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchVersion"):
            return None
        raise
    checksum = info.metadata.get("x-amz-checksum-sha256", "")
    # A multipart upload's checksum ("<base64>-<parts>") covers part checksums, not the object's bytes.
    sha256 = base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None
    return Stored(info.version_id, int(info.size or 0), sha256)


def find(client: Minio, bucket: str, sha256: str) -> Stored | None:
    """The version MinIO attests has ``sha256``; else the newest version (to be checked by download);
    None if nothing is stored under the key. Normally one HEAD request.

    When other bytes were written over the key, the original is looked for oldest version first,
    from one listing: it was there before anything written over it, so the reader pays one
    listing and about one more HEAD however many versions were added after it (not one HEAD per
    version, which let 200 rogue writes make every lookup 40 times slower)."""
    key = object_key(sha256)
    latest = _stat(client, bucket, key)
    if latest is None or latest.sha256 == sha256:
        return latest
    versions = [v for v in client.list_objects(bucket, prefix=key, include_version=True)
                if v.object_name == key and not v.is_delete_marker and v.version_id != latest.version_id]
    # Oldest first; the listing is newest first, which breaks ties of equal timestamps.
    for _, version in sorted(enumerate(versions), key=lambda iv: (iv[1].last_modified, -iv[0])):
        older = _stat(client, bucket, key, version.version_id)
        if older is not None and older.sha256 == sha256:
            return older
    return latest
