"""What can go wrong when storing or fetching an artifact, as the callers need to tell it apart.

Every message says what to do next: the CLI prints them as they are.
"""
from __future__ import annotations


class StorageError(Exception):
    """Anything the artifact store could not do."""


class StorageUnavailable(StorageError):
    """MinIO did not answer (or kept failing) after the retries: nothing the caller did was wrong."""


class AccessDenied(StorageError):
    """MinIO refused the credentials, or the role may not do this (e.g. a verifier writing snapshots)."""


class ObjectNotFound(StorageError):
    """No object is stored under the key the caller asked for."""


class IntegrityError(StorageError):
    """Bytes whose SHA-256 is not the one expected; they were discarded, never put in place.

    ``which`` says whose hash it is: ``"object"`` (a plain artifact's bytes), or, for a sealed one,
    ``"ciphertext"`` (what MinIO holds) or ``"plaintext"`` (what the ledger commits to).
    """

    def __init__(self, message: str, *, object_uri: str, expected: str, actual: str | None,
                 which: str = "object") -> None:
        super().__init__(message)
        self.object_uri = object_uri
        self.expected = expected
        self.actual = actual
        self.which = which
