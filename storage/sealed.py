"""Sealed transfers: an artifact encrypted on the client as it is uploaded, decrypted as it is downloaded.

MinIO holds only ciphertext (storage/sealing.py's format), stored content-addressed like any
artifact: the key is the ciphertext's SHA-256, which MinIO checks on upload (see `upload`). Two
hashes follow the artifact: the ciphertext's (what storage checks) and the plaintext's (the
commitment replay checks). Neither direction ever writes the ciphertext whole to disk.

Upload seals twice. The object key and the PUT's signed checksum header are the ciphertext's
SHA-256, so it must be known before the first byte is sent, and it depends on every byte. The
alternatives cost more: spooling the ciphertext (to disk or memory) is what sealing on the fly is
meant to avoid, and uploading under a temporary key then copying is what `upload` rules out
(org keys may not delete the temporary, and a copy over 5 GiB is multipart, which has no
whole-object SHA-256). So a first pass reads the file, hashing the plaintext and the ciphertext,
and a second pass seals it again into the PUT; AES-GCM is deterministic given the key and nonce
prefix, so the second pass reproduces the first exactly. `Sealer.again` checks each chunk's tag
against the first pass and withholds a chunk that differs (the file changed in between): sealing
other bytes with the same nonce would reveal them to whoever sees the ciphertext. AES-GCM runs at
2.5–3 GiB/s on one core here, so the second encryption is a small part of the upload; the second read is
normally served from the page cache, as for `put_file`.

Download decrypts while receiving: each chunk is authenticated before its plaintext is written
to the hidden partial file, so nothing unauthenticated ever reaches the disk, and the partial is
renamed into place only once the plaintext has the committed SHA-256. The ciphertext is not
hashed on the way in, unlike a plain download, because that hash would guard nothing a reader
uses:

- The plaintext check decides what is accepted: the file renamed into place hashes to the
  commitment on the ledger, the bytes the replay is meant to use, whatever was stored.
- Authentication refuses every ciphertext that was not sealed under the data key: GCM tags
  cannot be forged without the key, and the associated data binds the header (nonce prefix,
  chunk size), the chunk's index and the final flag, so a flipped byte, a wrong key, reordered,
  duplicated, truncated or extended chunks and a swapped header all fail, naming the chunk,
  before any of it is written.
- What remains is another sealing of the same plaintext under the same key (another nonce
  prefix, say), stored in place of the recorded object: every chunk authentic, other bytes at
  rest. Only a key holder can make one (the submitter, or a reader it delivered the key to, all
  of whom know the plaintext already), and it opens to exactly the committed plaintext, so
  nothing the replay uses differs; a sealing of any other plaintext fails the plaintext check.
  The recorded ciphertext's SHA-256 still addresses the object (the key it is fetched by), is
  checked by MinIO when it is uploaded, and ``expected_size`` refuses an object of another size
  before a byte is fetched.

So a sealed download hashes every byte once, like a plain one, and adds only the decryption
(AES-GCM, 0.35–0.45 s/GiB on one core here), all on the caller's thread: handing each chunk's write and
hash to a second thread, as the upload's survey does, cost more than it saved (measured on the
2-core machine, 256 MiB from memory to disk: 453 MiB/s and 1.9 client CPU s/GiB with the
thread, 585 MiB/s and 1.4 s/GiB without; against MinIO no faster, and more CPU under load).
Nor does it copy the ciphertext: `receive` reads it in pieces that end on chunk boundaries
(`sealing.read_size`, about 4 MiB each), and `Opener` decrypts each chunk where it lies in its
piece. Gathering each chunk out of 1 MiB reads into a buffer, as before, cost more than the
decryption: a sealed download took 0.41 and 0.34 client user CPU s/GiB more than a plain one
(two runs, 256 MiB from MinIO on the 2-core machine, medians of 6 and 10), and takes 0.15 and
0.24 more with whole-chunk pieces; decrypting alone measured 0.13 s/GiB in that sitting and 0.35–0.45
in a later one (`AESGCM.decrypt` of 1 MiB chunks in a loop): this machine's speed varies between days.
Plain downloads keep 1 MiB reads: 4 MiB ones were not reliably cheaper (two runs disagreed).
Upload still hashes both: it needs the ciphertext's hash as the object's address before the
first byte is sent. hashlib, AES-GCM and file writes release the GIL, so in `survey` a `_Worker`
thread hashes the plaintext while the caller seals the next chunk: where a core is free, the
second hash costs that core rather than time.
"""
from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Callable, Iterator

from minio import Minio

from trainproof.storage.download import partial_path, receive
from trainproof.storage.errors import IntegrityError
from trainproof.storage.progress import Meter
from trainproof.storage.retry import RetryPolicy
from trainproof.storage.sealing import Opener, SealError, Sealer, read_size
from trainproof.storage.uris import make_uri
from trainproof.storage.versions import Stored


class _Worker:
    """Runs calls on one thread, in order, at most ``depth`` behind the caller (so a few MiB wait at most).

    The first error of a call is raised by the caller's next `submit` or `drain`; leaving the
    ``with`` block waits for the call in progress and drops the others.
    """

    def __init__(self, depth: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainproof-sealed")
        self._waiting: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, call: Callable[[bytes], None], data: bytes) -> None:
        self._waiting.append(self._pool.submit(call, data))
        while len(self._waiting) > self._depth:
            self._waiting.popleft().result()

    def drain(self) -> None:
        while self._waiting:
            self._waiting.popleft().result()

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Survey:
    """What the first sealing pass learnt: both hashes and sizes, and the sealer to reproduce it."""

    sealer: Sealer
    sha256: str  # of the ciphertext
    size: int
    plaintext_sha256: str
    plaintext_size: int


def survey(path: Path, key: bytes, meter: Meter) -> Survey:
    """Seal ``path`` once, keeping only the hashes (and the tags `Sealer.again` checks)."""
    sealer = Sealer(key)
    plain, sealed = hashlib.sha256(), hashlib.sha256(sealer.header)
    plain_size, size = 0, len(sealer.header)
    with open(path, "rb") as source, _Worker() as worker:
        for chunk, record in sealer.chunks(source):
            worker.submit(plain.update, chunk)
            sealed.update(record)
            plain_size += len(chunk)
            size += len(record)
            meter.advance(len(chunk))
        worker.drain()
    return Survey(sealer, sealed.hexdigest(), size, plain.hexdigest(), plain_size)


class Resealed:
    """The ciphertext of a `survey` again, sealed chunk by chunk as the upload reads it.

    A changed source surfaces as IntegrityError before any of its first differing chunk is read.
    """

    def __init__(self, path: Path, first: Survey, uri: str) -> None:
        self._source = open(path, "rb")
        self._uri, self._sha256 = uri, first.sha256
        sealer = first.sealer.again()
        self._records: Iterator[bytes] = chain([sealer.header], (record for _, record in sealer.chunks(self._source)))
        self._pending = memoryview(b"")

    def read(self, amount: int = -1) -> bytes | memoryview:
        """Up to ``amount`` bytes (the rest of the current chunk if negative); empty at the end.

        Full-size reads cross chunk boundaries, for the price of joining two pieces: a short
        read would make the upload send each chunk's 16-byte tag as a TLS record (and TCP
        segment) of its own.
        """
        parts: list[memoryview] = []
        want = amount
        while want:
            if not self._pending:
                record = self._next_record()
                if record is None:
                    break
                self._pending = memoryview(record)
            part = self._pending if want < 0 else self._pending[:want]
            self._pending = self._pending[len(part):]
            parts.append(part)
            if want < 0:
                break
            want -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next_record(self) -> bytes | None:
        try:
            return next(self._records)
        except StopIteration:
            return None
        except SealError as exc:
            raise IntegrityError(f"the source of {self._uri} changed while it was being uploaded ({exc}); "
                                 f"nothing was stored: upload it again once it stops changing",
                                 object_uri=self._uri, expected=self._sha256, actual=None,
                                 which="ciphertext") from exc

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Resealed:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def download_sealed(client: Minio, bucket: str, sha256: str, plaintext_sha256: str, stored: Stored, key: bytes,
                    dest: Path, meter: Meter, retry: RetryPolicy) -> Path:
    """Fetch ``sha256/<sha256>`` and open it into ``dest`` if every chunk is authentic and the plaintext has
    the expected hash (the ciphertext is not hashed: see the module's docstring for why that is sound).

    SealError (naming the chunk) if a chunk fails authentication: a wrong key, or bytes altered,
    reordered, truncated or extended in MinIO; IntegrityError (``which`` "plaintext") if every
    chunk opened to bytes other than the committed ones. Either way nothing is left at ``dest``
    nor beside it.
    """
    uri = make_uri(bucket, sha256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(dest)
    opener = Opener(key)
    plain = hashlib.sha256()
    try:
        with open(partial, "wb") as out:

            def write(chunk: bytes) -> None:
                out.write(chunk)
                plain.update(chunk)

            def consume(piece: bytes) -> None:
                for chunk in opener.feed(piece):
                    write(chunk)

            try:
                receive(client, bucket, sha256, stored, consume, meter, retry, read_size)
                write(opener.finish())
            except SealError as exc:
                raise SealError(f"{uri} cannot be opened: {exc}; nothing was written to {dest}",
                                part=exc.part) from exc
            out.flush()
            os.fsync(out.fileno())  # what is renamed into place must be what was hashed, even after a crash
        if plain.hexdigest() != plaintext_sha256:
            raise IntegrityError(
                f"{uri} opened (every chunk authentic) to plaintext with SHA-256 {plain.hexdigest()}, not the "
                f"expected {plaintext_sha256}: it was sealed from other bytes than the ones committed to, or the "
                f"expected hash is not this artifact's; nothing was written to {dest}",
                object_uri=uri, expected=plaintext_sha256, actual=plain.hexdigest(), which="plaintext")
        os.replace(partial, dest)
        return dest
    finally:
        partial.unlink(missing_ok=True)
