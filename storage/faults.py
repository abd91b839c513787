"""Sorting the raw errors of the MinIO client and urllib3 into the store's errors.

Two questions per failure: is it worth retrying (the server may come back), and what should the person
at the keyboard do about it. Both answers live here so every operation gives the same advice.
"""
from __future__ import annotations

import ssl
from typing import Iterator

import urllib3.exceptions
from minio.error import InvalidResponseError, MinioAdminException, S3Error, ServerError

from trainproof.storage.errors import AccessDenied, ObjectNotFound, StorageError, StorageUnavailable
from trainproof.storage.state import Connection

# S3 codes MinIO uses while starting, stopping or overloaded.
_BUSY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
               "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum"}
_BAD_KEY_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                  "AccessKeyDisabled"}
_NETWORK_ERRORS = (ConnectionError, TimeoutError, urllib3.exceptions.NewConnectionError,
                   urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError,
                   urllib3.exceptions.ProtocolError, ssl.SSLError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and every error it wraps (urllib3 nests the socket error a few levels down)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]


def _network_reason(exc: BaseException) -> str | None:
    """A short cause if this is the network failing (server gone, connection cut), else None."""
    reasons = {ConnectionRefusedError: "connection refused", ConnectionResetError: "connection reset",
               BrokenPipeError: "connection closed mid-transfer", ssl.SSLEOFError: "connection closed mid-transfer",
               TimeoutError: "timed out"}
    network = False
    for error in _chain(exc):
        for kind, reason in reasons.items():
            if isinstance(error, kind):
                return reason
        network = network or isinstance(error, _NETWORK_ERRORS)
    return "connection lost" if network else None


def _bad_certificate(exc: BaseException) -> bool:
    return any(isinstance(error, ssl.SSLCertVerificationError) for error in _chain(exc))


def _server_busy(exc: BaseException) -> bool:
    if isinstance(exc, S3Error):
        return exc.code in _BUSY_CODES
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    if isinstance(exc, InvalidResponseError):
        return "Response code: 5" in str(exc)  # a 5xx whose body was not S3 XML (e.g. during shutdown)
    if isinstance(exc, MinioAdminException):
        return str(exc).startswith("admin request failed; Status: 5")
    return False


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: the network failed or the server said it is busy or starting."""
    if isinstance(exc, StorageError) or _bad_certificate(exc):
        return False
    return _network_reason(exc) is not None or _server_busy(exc)


def translate(exc: BaseException, conn: Connection, action: str, uri: str = "") -> StorageError:
    """The store's error for a raw failure, with what to do next in its message."""
    if isinstance(exc, StorageError):
        return exc
    endpoint = conn.endpoint
    if _bad_certificate(exc):
        return StorageUnavailable(
            f"TLS to MinIO at {endpoint} failed while trying to {action} ({exc}): the certificate "
            f"{conn.ca_file} does not match the server; run `make network-up` again, or "
            f"`make network-clean && make network-up` for a fresh network")
    reason = _network_reason(exc)
    if reason is not None:
        return StorageUnavailable(
            f"MinIO at {endpoint} is not answering ({reason}) while trying to {action}: run `make network-up` "
            f"(`make network-status` shows what is down)")
    if _server_busy(exc):
        return StorageUnavailable(
            f"MinIO at {endpoint} kept failing to {action} ({exc}); its log is "
            f"$TRAINPROOF_HOME/logs/minio.log")
    if isinstance(exc, S3Error):
        return _translate_s3(exc, conn, action, uri)
    return StorageError(f"could not {action}: {exc}")  # e.g. a full local disk


def _translate_s3(exc: S3Error, conn: Connection, action: str, uri: str) -> StorageError:
    if exc.code in _BAD_KEY_CODES:
        return AccessDenied(
            f"MinIO at {conn.endpoint} rejected the access key of {conn.identity} ({exc.code}): "
            f"{conn.credentials_file or 'the credentials file'} does not match this server; run `make network-up` "
            f"to re-apply the keys, or `make network-clean && make network-up` for a fresh network")
    if exc.code == "AccessDenied":
        return AccessDenied(
            f"{conn.identity} may not {action} (MinIO answered AccessDenied): submitters write snapshots and "
            f"datasets, verifiers write evidence, and nobody deletes or changes a stored object")
    if exc.code == "NoSuchBucket":
        return StorageError(
            f"bucket {exc.bucket_name} does not exist on MinIO at {conn.endpoint}: run `make network-up`, "
            f"which creates the snapshots, datasets and evidence buckets")
    if exc.code in ("NoSuchKey", "NoSuchVersion"):
        return ObjectNotFound(f"no object {uri or exc.object_name} on MinIO at {conn.endpoint}")
    return StorageError(f"MinIO refused to {action}: {exc.code}: {exc.message}")
