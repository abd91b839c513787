"""Sealed artifacts: round trips at the chunk boundaries, and every way of altering one is refused."""
from __future__ import annotations

import io
import os

import pytest

from trainproof.storage.sealing import HEADER_BYTES, TAG_BYTES, SealError, new_key, open_sealed, seal, sealed_size

pytestmark = pytest.mark.unit
CHUNK = 64


def sealed(plain: bytes, key: bytes, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    assert seal(io.BytesIO(plain), out, key, chunk) == len(out.getvalue())
    return out.getvalue()


def opened(blob: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    open_sealed(io.BytesIO(blob), out, key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_round_trip_at_every_boundary(size: int) -> None:
    key, plain = new_key(), os.urandom(size)
    blob = sealed(plain, key)
    assert len(blob) == sealed_size(size, CHUNK)
    assert opened(blob, key) == plain


def test_the_ciphertext_shows_no_window_of_the_plaintext() -> None:
    plain = b"patient-record:0123456789abcdef;" * 200
    blob = sealed(plain, new_key())
    windows = {plain[i:i + 16] for i in range(len(plain) - 16)}
    assert not any(blob[i:i + 16] in windows for i in range(len(blob) - 16))


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key, plain = new_key(), b"x" * 200
    assert sealed(plain, key) != sealed(plain, key)  # fresh nonce prefix per file


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    body, step = blob[HEADER_BYTES:], CHUNK + TAG_BYTES
    return blob[:HEADER_BYTES], [body[i:i + step] for i in range(0, len(body), step)]


@pytest.fixture
def three_chunks() -> tuple[bytes, bytes]:
    key = new_key()
    return key, sealed(os.urandom(2 * CHUNK + 10), key)


def test_a_flipped_byte_names_its_chunk(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    tampered = bytearray(blob)
    tampered[HEADER_BYTES + CHUNK + TAG_BYTES + 3] ^= 1
    with pytest.raises(SealError) as err:
        opened(bytes(tampered), key)
    assert err.value.part == "chunk 1"


def test_a_wrong_key_is_refused(three_chunks: tuple[bytes, bytes]) -> None:
    _, blob = three_chunks
    with pytest.raises(SealError, match="chunk 0 failed authentication"):
        opened(blob, new_key())


def test_reordered_and_duplicated_chunks_are_refused(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    header, (a, b, c) = _chunks(blob)
    for body in (b + a + c, a + a + c, a + b + b + c):
        with pytest.raises(SealError):
            opened(header + body, key)


@pytest.mark.parametrize("cut", [1, TAG_BYTES, CHUNK + TAG_BYTES + 10])
def test_truncation_is_refused(three_chunks: tuple[bytes, bytes], cut: int) -> None:
    key, blob = three_chunks
    with pytest.raises(SealError):
        opened(blob[:-cut], key)


def test_truncation_at_a_chunk_boundary_is_refused(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    header, (a, b, _) = _chunks(blob)
    with pytest.raises(SealError, match="chunk 1"):  # chunk 1 was not sealed as the last one
        opened(header + a + b, key)


def test_bytes_after_the_final_chunk_are_refused(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    with pytest.raises(SealError):
        opened(blob + b"\x00" * (TAG_BYTES + 1), key)


def test_a_header_from_another_file_is_refused(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    other = sealed(os.urandom(2 * CHUNK + 10), key)
    with pytest.raises(SealError, match="chunk 0"):
        opened(other[:HEADER_BYTES] + blob[HEADER_BYTES:], key)


@pytest.mark.parametrize("blob, message", [(b"", "shorter than its header"), (b"PK\x03\x04" + b"\x00" * 40, "bad magic"),
                                           (b"TPSEAL\x00\x01\x09" + b"\x00" * 20, "format version 9")])
def test_what_is_not_a_sealed_artifact_says_so(blob: bytes, message: str) -> None:
    with pytest.raises(SealError, match=message) as err:
        opened(blob, new_key())
    assert err.value.part == "header"
