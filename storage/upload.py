"""One streamed PUT straight to the final key, which MinIO commits only if the bytes have the SHA-256
the key names.

Why this shape (the caller has already hashed the content):
- The request carries ``x-amz-checksum-sha256`` (inside the signature). MinIO hashes the body as it
  arrives and refuses to commit on a mismatch, and a PUT is atomic: the key never holds a partial or a
  wrong object, so no temporary key or server-side copy is needed.
- MinIO keeps that server-computed checksum with the object; `versions.find` uses it to tell the
  object the key promises from any other bytes written there later.
- Not multipart: a multipart object has no whole-object SHA-256 checksum in S3, only a checksum of
  part checksums. A single PUT may be up to 5 TiB in MinIO and is streamed in 1 MiB chunks here, so
  memory stays flat; a failed transfer restarts from the first byte (`ArtifactStore` retries it).
- The payload itself is sent as ``UNSIGNED-PAYLOAD``: the signed checksum header already binds the
  body, and it spares MinIO a second SHA-256 pass over every byte.
"""
from __future__ import annotations

import base64
import io
from typing import BinaryIO, Callable
from urllib.parse import quote, urlsplit

import urllib3
from minio import time as s3time
from minio.credentials import Credentials
from minio.error import S3Error, ServerError
from minio.signer import sign_v4_s3

from trainproof.storage.errors import IntegrityError, StorageError
from trainproof.storage.progress import Meter
from trainproof.storage.state import Connection
from trainproof.storage.uris import make_uri, object_key

# MinIO's code for a body that does not match x-amz-checksum-sha256, and AWS's name for the same.
_MISMATCH_CODES = {"XAmzContentChecksumMismatch", "BadDigest"}


def sha256_header(sha256: str) -> str:
    """A hex digest in the base64 form S3 checksum headers use."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


class _Body:
    """Exactly ``size`` bytes of the stream, reported to the meter as they are sent.

    A file that shrank since it was hashed fails here instead of leaving MinIO waiting for bytes
    that never come; one that grew is cut at ``size``. Either way MinIO checks what it got against the hash.
    """

    def __init__(self, stream: BinaryIO, size: int, meter: Meter, uri: str, sha256: str) -> None:
        self.stream, self.left, self.meter, self.uri, self.sha256 = stream, size, meter, uri, sha256
        self.sent = 0

    def read(self, amount: int = -1) -> bytes:
        want = self.left if amount < 0 else min(amount, self.left)
        data = self.stream.read(want)
        if want and not data:
            raise IntegrityError(f"the source of {self.uri} got shorter while it was being uploaded; "
                                 f"nothing was stored: upload it again once it stops changing",
                                 object_uri=self.uri, expected=self.sha256, actual=None)
        self.left -= len(data)
        self.sent += len(data)
        self.meter.advance(len(data))
        return data


def put_verified(http: urllib3.PoolManager, conn: Connection, bucket: str, sha256: str, size: int,
                 open_body: Callable[[], BinaryIO], meter: Meter) -> None:
    """PUT the body under ``sha256/<sha256>``; raises the S3 error, or IntegrityError on a wrong body."""
    uri = make_uri(bucket, sha256)
    with open_body() as stream:
        body = _Body(stream, size, meter, uri, sha256)
        try:
            response = _signed_put(http, conn, bucket, sha256, body, size, sha256)
            if response.status != 200:
                error = _error(response)
                if isinstance(error, S3Error) and error.code in _MISMATCH_CODES:
                    raise IntegrityError(f"the bytes sent for {uri} do not have SHA-256 {sha256} (the source "
                                         f"changed while it was being uploaded); MinIO stored nothing: upload "
                                         f"it again", object_uri=uri, expected=sha256, actual=None)
                raise error
        except BaseException:
            meter.rewind(body.sent)  # a retry sends everything again
            raise


def check_write(http: urllib3.PoolManager, conn: Connection, bucket: str, sha256: str) -> None:
    """Raise MinIO's refusal if this key may not write ``sha256/<sha256>``; store nothing either way.

    Sends one byte that does not match the checksum it claims: MinIO checks the signature and the
    policy first (refusing an unknown key or a denied write), then refuses the body. Why bother: MinIO
    answers a denied PUT before reading the body and then drops the connection, so a large upload would
    only see "connection closed" and mistake a refusal for an outage.
    """
    response = _signed_put(http, conn, bucket, sha256, io.BytesIO(b"\0"), 1, sha256)
    if response.status == 200:
        raise StorageError(f"MinIO at {conn.endpoint} accepted bytes that do not match their checksum under "
                           f"{make_uri(bucket, sha256)}: it does not verify uploads, so it must not be used")
    error = _error(response)
    if not (isinstance(error, S3Error) and error.code in _MISMATCH_CODES):
        raise error


def _signed_put(http: urllib3.PoolManager, conn: Connection, bucket: str, sha256: str, body: object, size: int,
                checksum: str) -> urllib3.BaseHTTPResponse:
    scheme = "https" if conn.ca_file else "http"
    url = urlsplit(f"{scheme}://{conn.endpoint}/{bucket}/{quote(object_key(sha256))}")
    date = s3time.utcnow()
    headers = {
        "Host": conn.endpoint,
        "Content-Length": str(size),
        "Content-Type": "application/octet-stream",
        "x-amz-checksum-sha256": sha256_header(checksum),
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-date": s3time.to_amz_date(date),
    }
    headers = sign_v4_s3(method="PUT", url=url, region=conn.region, headers=headers,
                         credentials=Credentials(conn.access_key, conn.secret_key),
                         content_sha256="UNSIGNED-PAYLOAD", date=date)
    return http.urlopen("PUT", url.geturl(), body=body, headers=headers, retries=False, redirect=False,
                        preload_content=True)


def _error(response: urllib3.BaseHTTPResponse) -> Exception:
    if b"<Error>" not in response.data:
        return ServerError(f"MinIO answered HTTP {response.status} without an S3 error", response.status)
    return S3Error.fromxml(response)
