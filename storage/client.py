"""`ArtifactStore`: put and get content-addressed artifacts in MinIO, as one org's submitter or verifier.

put: hash first, then upload only if MinIO does not already hold those bytes. Hashing first is what
lets a second upload of the same content transfer nothing, and it gives the upload the checksum that
MinIO verifies before committing (see `upload`). The price is reading the file twice; the second read
usually comes from the page cache (`make bench-storage` measures it).
get: never trust the key alone; the bytes are hashed on the way in and only a match is kept.
put_sealed/get_sealed: the same for an artifact encrypted on the client (issue #18): MinIO stores and
checks the ciphertext, the ledger commits to the plaintext. The upload hashes both; the download
authenticates every chunk and checks the plaintext's hash, which is what a reader relies on (see
`sealed`, which says why the upload seals twice and why the download need not hash the ciphertext).
"""
from __future__ import annotations

import hashlib
import io
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, TypeVar

from trainproof.storage import state
from trainproof.storage.connect import http_pool, s3_client
from trainproof.storage.download import download_verified, partial_path
from trainproof.storage.errors import AccessDenied, IntegrityError, ObjectNotFound, StorageError
from trainproof.storage.faults import translate
from trainproof.storage.hashing import sha256_file
from trainproof.storage.manifest import Entry, Manifest, scan
from trainproof.storage.progress import Meter, ProgressFn
from trainproof.storage.retry import RetryPolicy
from trainproof.storage.sealed import Resealed, download_sealed, survey
from trainproof.storage.upload import check_write, put_verified
from trainproof.storage.uris import BUCKETS, check_sha256, make_uri, parse
from trainproof.storage.versions import Stored, find

T = TypeVar("T")


@dataclass(frozen=True)
class Artifact:
    """A stored object as the ledger records it."""

    uri: str  # s3://<bucket>/sha256/<hex>
    sha256: str
    size: int


@dataclass(frozen=True)
class SealedArtifact:
    """A sealed object: stored and addressed as ciphertext, committed to by its plaintext's hash.

    ``sha256`` and ``size`` are the stored bytes' (the ciphertext's), as in `Artifact`, so the
    URI names them; the plaintext's are what replay checks after opening it.
    """

    uri: str
    sha256: str
    size: int
    plaintext_sha256: str
    plaintext_size: int


class ArtifactStore:
    """One identity's view of the bucket store. Safe to share between threads; close() when done."""

    def __init__(self, conn: state.Connection, retry: RetryPolicy | None = None) -> None:
        self.conn = conn
        self.retry = retry or RetryPolicy()
        self._writable: set[str] = set()  # buckets MinIO has let this key write to
        self._http = http_pool(conn)
        self._client = s3_client(conn, self._http)

    @classmethod
    def from_state(cls, role: str = "submitter", org: str = "org1", home: Path | None = None,
                   retry: RetryPolicy | None = None) -> ArtifactStore:
        """The store as ``role`` of ``org``, with the keys the running network wrote to its state directory."""
        return cls(state.load(role, org, home), retry)

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- put -------------------------------------------------------------------------------------

    def put_file(self, path: str | Path, bucket: str, progress: Optional[ProgressFn] = None) -> Artifact:
        """Store one file under its SHA-256; no bytes are sent if MinIO already holds it."""
        path = Path(path)
        if not path.is_file():
            raise StorageError(f"{path} is not a regular file")
        sha256, size = sha256_file(path, Meter(progress, "hash", path.stat().st_size))
        if not self.exists(sha256, bucket):
            self._upload(bucket, sha256, size, lambda: open(path, "rb"), Meter(progress, "upload", size))
        return Artifact(make_uri(bucket, sha256), sha256, size)

    def put_dir(self, path: str | Path, bucket: str, progress: Optional[ProgressFn] = None) -> Artifact:
        """Store every file of a directory, then its manifest; the result names the manifest.

        The manifest goes last, so a stored manifest never names a file that is not stored.
        """
        files = scan(Path(path))
        hash_meter = Meter(progress, "hash", sum(file.stat().st_size for _, file in files))
        entries, sources = [], {}
        for relative, file in files:
            sha256, size = sha256_file(file, hash_meter)
            entries.append(Entry(relative, sha256, size))
            sources[sha256] = (file, size)
        body = Manifest(tuple(entries)).to_bytes()
        manifest_sha256 = hashlib.sha256(body).hexdigest()
        missing = {sha256: source for sha256, source in sources.items() if not self.exists(sha256, bucket)}
        manifest_missing = not self.exists(manifest_sha256, bucket)
        upload_meter = Meter(progress, "upload",
                             sum(size for _, size in missing.values()) + (len(body) if manifest_missing else 0))
        for sha256, (file, size) in missing.items():
            self._upload(bucket, sha256, size, lambda file=file: open(file, "rb"), upload_meter)
        if manifest_missing:
            self._upload(bucket, manifest_sha256, len(body), lambda: io.BytesIO(body), upload_meter)
        return Artifact(make_uri(bucket, manifest_sha256), manifest_sha256, len(body))

    def put_sealed(self, path: str | Path, bucket: str, key: bytes,
                   progress: Optional[ProgressFn] = None) -> SealedArtifact:
        """Encrypt one file with the data ``key`` (`sealing.new_key`) while uploading it; store it under
        the ciphertext's SHA-256.

        Two passes over the file ("hash", then "upload"): the first seals it to learn both hashes,
        the second seals it again into the PUT, identically (see `sealed` for why, and for what
        stops a file that changes in between). No bytes are saved by looking the object up first:
        a fresh nonce prefix makes every sealing's ciphertext new.
        """
        path = Path(path)
        if not path.is_file():
            raise StorageError(f"{path} is not a regular file")
        first = survey(path, key, Meter(progress, "hash", path.stat().st_size))
        uri = make_uri(bucket, first.sha256)
        self._upload(bucket, first.sha256, first.size, lambda: Resealed(path, first, uri),
                     Meter(progress, "upload", first.size))
        return SealedArtifact(uri, first.sha256, first.size, first.plaintext_sha256, first.plaintext_size)

    def exists(self, sha256: str, bucket: str) -> bool:
        """True if MinIO holds bytes with this SHA-256 under ``sha256/<hex>`` (by its own checksum)."""
        sha256 = check_sha256(sha256)
        stored = self._find(bucket, sha256)
        return stored is not None and stored.sha256 == sha256

    # --- get -------------------------------------------------------------------------------------

    def get_file(self, uri_or_sha: str, expected_sha256: str, dest: str | Path,
                 progress: Optional[ProgressFn] = None, bucket: str | None = None,
                 expected_size: int | None = None) -> Path:
        """Download to ``dest`` if and only if the bytes hash to ``expected_sha256`` (normally the ledger's).

        A bare digest is looked up in ``bucket``, or in every bucket if none is given. With
        ``expected_size`` (the ledger's), an object of another size is refused before a byte is
        fetched: a reader never downloads more than the ledger said it would.
        """
        bucket, sha256 = self._where(uri_or_sha, expected_sha256, bucket)
        stored = self._stored(bucket, sha256, expected_size)
        return self._download(bucket, sha256, stored, Path(dest), Meter(progress, "download", stored.size))

    def get_sealed(self, uri_or_sha: str, expected_ciphertext_sha256: str, expected_plaintext_sha256: str,
                   key: bytes, dest: str | Path, progress: Optional[ProgressFn] = None, bucket: str | None = None,
                   expected_size: int | None = None) -> Path:
        """Download a sealed artifact and open it with the data ``key`` into ``dest``, as the bytes arrive.

        ``dest`` appears only if every chunk is authentic (SealError naming the first one that is
        not: a wrong key, or ciphertext altered, reordered, truncated or extended in MinIO) and what
        they open to has the expected plaintext SHA-256 (IntegrityError, ``which`` "plaintext").
        ``expected_ciphertext_sha256`` is the object's address (its key must match it) but the bytes
        received are not hashed: a ciphertext that authenticates under the key and opens to the
        committed plaintext is another sealing of the very bytes the ledger commits to, one only a
        holder of the key can make, and nothing read from it differs (`sealed` argues it in full).
        Lookup and ``expected_size`` (of the ciphertext, checked before a byte is fetched) as `get_file`.
        """
        bucket, sha256 = self._where(uri_or_sha, expected_ciphertext_sha256, bucket)
        plaintext_sha256 = check_sha256(expected_plaintext_sha256)
        stored = self._stored(bucket, sha256, expected_size)
        uri = make_uri(bucket, sha256)
        with self._errors(f"read {uri}", uri):
            return download_sealed(self._client, bucket, sha256, plaintext_sha256, stored, key, Path(dest),
                                   Meter(progress, "download", stored.size), self.retry)

    def get_dir(self, uri_or_sha: str, expected_sha256: str, dest: str | Path,
                progress: Optional[ProgressFn] = None, bucket: str | None = None) -> Path:
        """Rebuild a dataset directory at ``dest`` (which must not exist) from its verified manifest.

        Files are fetched into a hidden directory beside ``dest``, each checked against the manifest,
        and the directory is renamed to ``dest`` only when all of them are in.
        """
        dest = Path(dest)
        if dest.exists():
            raise StorageError(f"{dest} already exists: get_dir creates a new directory (remove it or pick another)")
        bucket, sha256 = self._where(uri_or_sha, expected_sha256, bucket)
        manifest_file = self._download(bucket, sha256, self._require(bucket, sha256), partial_path(dest),
                                       Meter(None, "download", 0))
        try:
            manifest = Manifest.from_bytes(manifest_file.read_bytes())
        finally:
            manifest_file.unlink()
        staging = partial_path(dest)
        meter = Meter(progress, "download", manifest.total_size)
        try:
            fetched: dict[str, Path] = {}
            for entry in manifest.entries:
                target = staging / entry.path
                if entry.sha256 in fetched:  # same bytes twice in one dataset: fetch once
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(fetched[entry.sha256], target)
                    meter.advance(entry.size)
                    continue
                fetched[entry.sha256] = self._download(bucket, entry.sha256, self._require(bucket, entry.sha256),
                                                       target, meter)
            staging.mkdir(parents=True, exist_ok=True)
            staging.rename(dest)
            return dest
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # --- internals -------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, action: str, uri: str = "") -> Iterator[None]:
        """Raise the store's own errors, with advice, instead of the client library's."""
        try:
            yield
        except StorageError:
            raise
        except Exception as exc:
            raise translate(exc, self.conn, action, uri) from exc

    def _call(self, operation: Callable[[], T], action: str, uri: str = "") -> T:
        with self._errors(action, uri):
            return self.retry.run(operation, action)

    def _find(self, bucket: str, sha256: str) -> Stored | None:
        uri = make_uri(bucket, sha256)
        try:
            return self._call(lambda: find(self._client, bucket, sha256), f"look up {uri}", uri)
        except AccessDenied:
            # A refused HEAD has no body, so "wrong key" and "not allowed" look alike; a listing tells them apart.
            self._call(lambda: list(self._client.list_objects(bucket, prefix="sha256/-")), f"list {bucket}")
            raise

    def _require(self, bucket: str, sha256: str) -> Stored:
        stored = self._find(bucket, sha256)
        if stored is None:
            raise ObjectNotFound(f"no object {make_uri(bucket, sha256)} on MinIO at {self.conn.endpoint}: "
                                 f"was it ever uploaded (`trainproof submit`)?")
        return stored

    def _stored(self, bucket: str, sha256: str, expected_size: int | None) -> Stored:
        """The version to fetch, refused before a byte is fetched if it is not the size the ledger says."""
        stored = self._require(bucket, sha256)
        if expected_size is not None and stored.size != expected_size:
            uri = make_uri(bucket, sha256)
            raise IntegrityError(f"{uri} is {stored.size} bytes, the ledger says {expected_size}: not downloaded",
                                 object_uri=uri, expected=sha256, actual=None)
        return stored

    def _where(self, uri_or_sha: str, expected_sha256: str, bucket: str | None) -> tuple[str, str]:
        """(bucket, digest) to fetch; refuses a key that cannot hold the expected bytes."""
        named_bucket, sha256 = parse(uri_or_sha)
        expected = check_sha256(expected_sha256)
        if sha256 != expected:
            uri = make_uri(named_bucket or bucket or "?", sha256)
            raise IntegrityError(f"{uri} cannot be the expected artifact: its key is SHA-256 {sha256}, the "
                                 f"expected SHA-256 is {expected}; nothing was downloaded",
                                 object_uri=uri, expected=expected, actual=sha256)
        if named_bucket or bucket:
            return named_bucket or bucket, sha256
        for candidate in BUCKETS:
            if self.exists(sha256, candidate):
                return candidate, sha256
        raise ObjectNotFound(f"no bucket on MinIO at {self.conn.endpoint} holds sha256/{sha256}")

    def _upload(self, bucket: str, sha256: str, size: int, open_body: Callable[[], BinaryIO], meter: Meter) -> None:
        uri = make_uri(bucket, sha256)
        if bucket not in self._writable:  # learn of a refusal before streaming gigabytes (see check_write)
            self._call(lambda: check_write(self._http, self.conn, bucket, sha256), f"write {uri}", uri)
            self._writable.add(bucket)
        self._call(lambda: put_verified(self._http, self.conn, bucket, sha256, size, open_body, meter),
                   f"write {uri}", uri)

    def _download(self, bucket: str, sha256: str, stored: Stored, dest: Path, meter: Meter) -> Path:
        uri = make_uri(bucket, sha256)
        with self._errors(f"read {uri}", uri):
            return download_verified(self._client, bucket, sha256, stored, dest, meter, self.retry)

