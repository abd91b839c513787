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
"""
from __future__ import annotations

import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trainproof.storage.errors import StorageError

MAGIC = b"TPSEAL\x00\x01"
VERSION = 1
CHUNK_SIZE = 1 << 20
KEY_BYTES = 32
TAG_BYTES = 16
_HEADER = struct.Struct(">8sBI8s")
HEADER_BYTES = _HEADER.size


class SealError(StorageError):
    """A sealed artifact that cannot be opened; ``part`` names what failed (header, chunk N, end)."""

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


def new_key() -> bytes:
    """A fresh 256-bit data key: one per artifact, never reused."""
    return os.urandom(KEY_BYTES)


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


def seal(source: BinaryIO, dest: BinaryIO, key: bytes, chunk_size: int = CHUNK_SIZE) -> int:
    """Encrypts ``source`` into ``dest`` chunk by chunk; returns the ciphertext's length."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"a data key has {KEY_BYTES} bytes, not {len(key)}")
    if not 0 < chunk_size < 1 << 31:
        raise ValueError(f"chunk size {chunk_size} is out of range")
    header = _HEADER.pack(MAGIC, VERSION, chunk_size, os.urandom(8))
    prefix = header[-8:]
    aead = AESGCM(key)
    dest.write(header)
    written = len(header)
    index, chunk = 0, _read_full(source, chunk_size)
    while True:
        after = _read_full(source, chunk_size)
        final = not after
        if index >= 1 << 32:
            raise ValueError("artifact too large for one sealed file (2^32 chunks)")
        sealed = aead.encrypt(_nonce(prefix, index), chunk, _associated(header, index, final))
        dest.write(sealed)
        written += len(sealed)
        if final:
            return written
        index, chunk = index + 1, after


def open_sealed(source: BinaryIO, dest: BinaryIO, key: bytes) -> int:
    """Decrypts a sealed stream into ``dest``; returns the plaintext's length.

    Each chunk is authenticated before its plaintext is written, so on a SealError ``dest``
    holds only authentic chunks that precede the failure: the caller must still discard it
    (a truncated artifact is not the artifact).
    """
    header = _read_full(source, HEADER_BYTES)
    if len(header) < HEADER_BYTES:
        raise SealError("sealed artifact is shorter than its header: truncated or not sealed", part="header")
    magic, version, chunk_size, prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise SealError("not a sealed artifact (bad magic bytes)", part="header")
    if version != VERSION:
        raise SealError(f"sealed with format version {version}; this client reads version {VERSION}", part="header")
    if chunk_size == 0:
        raise SealError("sealed artifact declares a chunk size of 0", part="header")
    aead = AESGCM(key)
    index, written = 0, 0
    record = _read_full(source, chunk_size + TAG_BYTES)
    while True:
        if len(record) < TAG_BYTES:
            raise SealError(f"chunk {index} is cut short: the artifact is truncated", part=f"chunk {index}")
        after = _read_full(source, chunk_size + TAG_BYTES)
        final = not after
        try:
            plain = aead.decrypt(_nonce(prefix, index), record, _associated(header, index, final))
        except InvalidTag:
            raise SealError(f"chunk {index} failed authentication: wrong key, or the artifact was altered, "
                            "reordered or truncated", part=f"chunk {index}") from None
        dest.write(plain)
        written += len(plain)
        if final:
            return written
        if len(plain) != chunk_size:
            raise SealError(f"chunk {index} is short but not the last one", part=f"chunk {index}")
        index, record = index + 1, after


def sealed_size(plain_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The ciphertext length of a plaintext of ``plain_size`` bytes (for progress and limits)."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_BYTES + plain_size + chunks * TAG_BYTES
