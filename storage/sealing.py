"""Streaming authenticated encryption of an artifact: AES-256-GCM in fixed-size chunks.

Why chunks: a snapshot can be hundreds of MB and GCM authenticates a message only at its end,
so sealing a whole file at once would mean buffering it. Each chunk is sealed on its own, with
a nonce made of a random per-file prefix and the chunk's counter, and with associated data
binding the header, the chunk's index and whether it is the last chunk. So every way of
altering a sealed file is found, and found before any of the altered chunk reaches the caller:
a flipped byte or a wrong key fails that chunk's tag, a reordered or duplicated chunk fails
(its index is in the associated data), a truncated file fails (no chunk flagged final), extra
bytes after the final chunk fail, and a header swapped from another file fails every chunk.

Format (version 1): header = MAGIC (8) ‖ version (1) ‖ chunk size (4, big endian) ‖ nonce prefix
(8), then chunks of chunk-size plaintext bytes (the last one shorter, possibly empty), each
ciphertext followed by its 16-byte tag.

`Sealer` and `Opener` work a chunk at a time, for transfers that encrypt into an upload or
decrypt out of a download as the bytes flow (`storage/sealed.py`); `seal` and `open_sealed`
are the same for whole streams.
"""
from __future__ import annotations

import copy
import os
import struct
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trainproof.storage.errors import StorageError

MAGIC = b"TPSEAL\x00\x01"
VERSION = 1
CHUNK_SIZE = 1 << 20
# A chunk is held whole on both sides (its tag comes after it), so its size is bounded: an opener
# must not buffer gigabytes because a forged header asked it to.
MAX_CHUNK_SIZE = 1 << 26
KEY_BYTES = 32
TAG_BYTES = 16
PREFIX_BYTES = 8
_HEADER = struct.Struct(">8sBI8s")
HEADER_BYTES = _HEADER.size
_MAX_CHUNKS = 1 << 32  # the nonce's counter has 32 bits


class SealError(StorageError):
    """A sealed artifact that cannot be opened; ``part`` names what failed (header, chunk N, end)."""

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


def new_key() -> bytes:
    """A fresh 256-bit data key: one per artifact, never reused."""
    return os.urandom(KEY_BYTES)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a data key has {KEY_BYTES} bytes, not {len(key)}")


def _associated(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class Sealer:
    """Seals one artifact a chunk at a time, with a fresh nonce prefix; ``header`` comes first.

    It records each chunk's tag, so that `again` can reproduce the very same ciphertext: a
    streamed upload needs the ciphertext's SHA-256 before it sends a byte, so it seals twice
    (see `storage/sealed.py`). Sealing *other* plaintext under the same key and nonces would
    reveal it (and let GCM tags be forged), so the reproduction checks every chunk's tag
    against the first sealing and refuses a chunk that differs before returning any of it.
    """

    def __init__(self, key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        _check_key(key)
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} is out of range (1 to {MAX_CHUNK_SIZE})")
        self.chunk_size = chunk_size
        self.header = _HEADER.pack(MAGIC, VERSION, chunk_size, os.urandom(PREFIX_BYTES))
        self._aead = AESGCM(key)
        self._index = 0
        self._final = False
        self._tags = bytearray()  # one per chunk sealed, in order
        self._expected: bytes | None = None  # the first sealing's tags, when this is a reproduction

    def seal_chunk(self, plain: bytes, final: bool) -> bytes:
        """The next chunk's ciphertext and tag; every chunk but the final one has ``chunk_size`` bytes."""
        if self._final:
            raise ValueError("the final chunk is already sealed")
        if len(plain) > self.chunk_size or (not final and len(plain) != self.chunk_size):
            raise ValueError(f"chunk {self._index} has {len(plain)} bytes; a chunk has {self.chunk_size} "
                             f"(only the final one may have fewer)")
        if self._index >= _MAX_CHUNKS:
            raise ValueError(f"artifact too large for one sealed file ({_MAX_CHUNKS} chunks)")
        index = self._index
        sealed = self._aead.encrypt(_nonce(self.header[-PREFIX_BYTES:], index), plain,
                                    _associated(self.header, index, final))
        tag = sealed[-TAG_BYTES:]
        if self._expected is not None:
            if self._expected[index * TAG_BYTES:(index + 1) * TAG_BYTES] != tag:
                raise SealError(f"chunk {index} is not what was sealed the first time (the source changed "
                                f"in between); its ciphertext was withheld", part=f"chunk {index}")
        else:
            self._tags += tag
        self._index, self._final = index + 1, final
        return sealed

    def chunks(self, source: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
        """Seals ``source`` to its end: yields each chunk's plaintext and sealed bytes (not the header).

        The final chunk is the one no bytes follow, so one chunk is read ahead.
        """
        chunk = _read_full(source, self.chunk_size)
        while True:
            after = _read_full(source, self.chunk_size)
            yield chunk, self.seal_chunk(chunk, final=not after)
            if not after:
                return
            chunk = after

    def again(self) -> Sealer:
        """A sealer that gives this one's ciphertext again, from the same plaintext only (see above)."""
        if not self._final:
            raise ValueError("only a finished sealing can be reproduced")
        twin = copy.copy(self)  # same key (AESGCM holds no per-message state), header and nonce prefix
        twin._index, twin._final, twin._tags = 0, False, bytearray()
        twin._expected = bytes(self._tags) if self._expected is None else self._expected
        return twin


class Opener:
    """Opens a sealed stream fed in pieces of any size, as they arrive from the network.

    `feed` returns the plaintext of each chunk it completed, each only after its tag was
    checked; `finish` opens the final chunk once the stream has ended. A chunk is known to be
    the final one only when nothing follows it, so the opener holds back one chunk (at most
    `MAX_CHUNK_SIZE` plus a tag) until more bytes or the end arrive. Any SealError leaves
    what was returned before it authentic but incomplete: the caller must discard it.

    Chunks are opened where they lie in the pieces fed, without copying them: only a chunk
    split across pieces is gathered into a buffer (one per opener), and a whole chunk that ends
    a piece of ``bytes`` is held back by reference. So a reader whose pieces end on chunk
    boundaries (`read_size`) copies no ciphertext at all: gathering every chunk cost more than
    decrypting it (storage/sealed.py has the figures).
    """

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._aead = AESGCM(key)
        self._header: bytes | None = None
        self._record = 0  # bytes per full chunk: chunk size plus tag
        self._index = 0
        self._done = False
        self._head = bytearray()  # the header, until all of it has arrived
        self._gathered = bytearray()  # the start of a chunk split across pieces (allocated at a chunk's size, once)
        self._gathered_size = 0
        self._held: memoryview | None = None  # a whole chunk that ended a piece, awaiting what follows it
        self.plain_size = 0  # plaintext bytes released so far

    def feed(self, data: bytes) -> list[bytes]:
        if self._done:
            raise ValueError("the sealed stream was already finished")
        # A piece that is not immutable bytes may be reused by the caller: keep a copy, not a view of it.
        mine = isinstance(data, bytes)
        piece = memoryview(data if mine else bytes(data))
        if self._header is None:
            taken = HEADER_BYTES - len(self._head)
            self._head += piece[:taken]
            piece = piece[taken:]
            if len(self._head) < HEADER_BYTES:
                return []
            self._start(bytes(self._head))
        if not piece:
            return []
        opened = []
        if self._held is not None:  # more bytes follow it: not the final chunk
            opened.append(self._open(self._held, final=False))
            self._held = None
        elif self._gathered_size:
            taken = min(self._record - self._gathered_size, len(piece))
            self._gathered[self._gathered_size:self._gathered_size + taken] = piece[:taken]
            self._gathered_size += taken
            piece = piece[taken:]
            if not piece:
                return []
            opened.append(self._open(self._gathered, final=False))
            self._gathered_size = 0
        while len(piece) > self._record:  # more bytes follow: not the final chunk
            opened.append(self._open(piece[:self._record], final=False))
            piece = piece[self._record:]
        if len(piece) == self._record and mine:
            self._held = piece
        elif piece:
            if not self._gathered:
                self._gathered = bytearray(self._record)
            self._gathered[:len(piece)] = piece
            self._gathered_size = len(piece)
        return opened

    def finish(self) -> bytes:
        """The final chunk's plaintext; SealError if the stream was truncated or had bytes to spare."""
        if self._done:
            raise ValueError("the sealed stream was already finished")
        if self._header is None:
            raise SealError("sealed artifact is shorter than its header: truncated or not sealed", part="header")
        rest = self._held if self._held is not None else memoryview(self._gathered)[:self._gathered_size]
        if len(rest) < TAG_BYTES:
            raise SealError(f"chunk {self._index} is cut short: the artifact is truncated", part=f"chunk {self._index}")
        plain = self._open(rest, final=True)
        self._held, self._gathered, self._gathered_size, self._done = None, bytearray(), 0, True
        return plain

    def _start(self, header: bytes) -> None:
        magic, version, chunk_size, _ = _HEADER.unpack(header)
        if magic != MAGIC:
            raise SealError("not a sealed artifact (bad magic bytes)", part="header")
        if version != VERSION:
            raise SealError(f"sealed with format version {version}; this client reads version {VERSION}", part="header")
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise SealError(f"sealed artifact declares a chunk size of {chunk_size} (1 to {MAX_CHUNK_SIZE} "
                            f"are allowed)", part="header")
        self._header, self._record = header, chunk_size + TAG_BYTES

    def _open(self, record: bytes | bytearray | memoryview, final: bool) -> bytes:
        index = self._index
        if index >= _MAX_CHUNKS:
            raise SealError(f"the artifact has more than {_MAX_CHUNKS} chunks", part=f"chunk {index}")
        assert self._header is not None
        try:
            plain = self._aead.decrypt(_nonce(self._header[-PREFIX_BYTES:], index), record,
                                       _associated(self._header, index, final))
        except InvalidTag:
            raise SealError(f"chunk {index} failed authentication: wrong key, or the artifact was altered, "
                            "reordered or truncated", part=f"chunk {index}") from None
        self._index += 1
        self.plain_size += len(plain)
        return plain


def read_size(offset: int, chunks: int = 4) -> int:
    """How many bytes to read next from ``offset`` of a sealed stream, so that the read ends where a chunk
    ends (in a stream sealed with the default chunk size) about ``chunks`` chunks on.

    A reader that asks for these gives `Opener` pieces of whole chunks, which it opens in place
    without copying them; other chunk sizes are read as well, only with some chunks gathered.
    """
    record = CHUNK_SIZE + TAG_BYTES
    return HEADER_BYTES + (max(0, offset - HEADER_BYTES) // record + chunks) * record - offset


def seal(source: BinaryIO, dest: BinaryIO, key: bytes, chunk_size: int = CHUNK_SIZE) -> int:
    """Encrypts ``source`` into ``dest`` chunk by chunk; returns the ciphertext's length."""
    sealer = Sealer(key, chunk_size)
    dest.write(sealer.header)
    written = len(sealer.header)
    for _, sealed in sealer.chunks(source):
        dest.write(sealed)
        written += len(sealed)
    return written


def open_sealed(source: BinaryIO, dest: BinaryIO, key: bytes) -> int:
    """Decrypts a sealed stream into ``dest``; returns the plaintext's length.

    Each chunk is authenticated before its plaintext is written, so on a SealError ``dest``
    holds only authentic chunks that precede the failure: the caller must still discard it
    (a truncated artifact is not the artifact).
    """
    opener, offset = Opener(key), 0
    while piece := source.read(read_size(offset)):
        offset += len(piece)
        for plain in opener.feed(piece):
            dest.write(plain)
    dest.write(opener.finish())
    return opener.plain_size


def sealed_size(plain_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The ciphertext length of a plaintext of ``plain_size`` bytes (for progress and limits)."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_BYTES + plain_size + chunks * TAG_BYTES
