"""Sealed artifacts: round trips at the chunk boundaries, and every way of altering one is refused.

Also the chunk-at-a-time pieces the streamed transfers use: `Opener` fed in pieces of any size,
`Sealer.again` reproducing a sealing only from the same plaintext, and `sealed.survey`/`Resealed`
(the two passes of an upload) without a server.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import pytest

from trainproof.storage.errors import IntegrityError
from trainproof.storage.progress import Meter
from trainproof.storage.sealed import Resealed, _Worker, survey
from trainproof.storage.sealing import (CHUNK_SIZE, HEADER_BYTES, MAX_CHUNK_SIZE, TAG_BYTES, Opener, SealError,
                                        Sealer, new_key, open_sealed, read_size, seal, sealed_size)

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


# --- chunk at a time -------------------------------------------------------------------------------


def fed(blob: bytes, key: bytes, sizes: list[int]) -> bytes:
    """Open ``blob`` fed in pieces of the given sizes (cycled), as a download delivers it."""
    opener, out, at, i = Opener(key), [], 0, 0
    while at < len(blob):
        out += opener.feed(blob[at:at + sizes[i % len(sizes)]])
        at, i = at + sizes[i % len(sizes)], i + 1
    out.append(opener.finish())
    assert opener.plain_size == sum(map(len, out))
    return b"".join(out)


@pytest.mark.parametrize("sizes", [[1], [7], [CHUNK + TAG_BYTES], [HEADER_BYTES, CHUNK + TAG_BYTES], [1000], [3, 200, 1],
                                   [HEADER_BYTES + 3 * (CHUNK + TAG_BYTES), 3 * (CHUNK + TAG_BYTES)]])
@pytest.mark.parametrize("size", [0, CHUNK, 5 * CHUNK + 7])
def test_an_opener_fed_in_any_pieces_gives_the_plaintext(sizes: list[int], size: int) -> None:
    key, plain = new_key(), os.urandom(size)
    assert fed(sealed(plain, key), key, sizes) == plain


def test_an_opener_returns_a_chunk_only_once_bytes_follow_it(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    opener = Opener(key)
    assert opener.feed(blob[:HEADER_BYTES + CHUNK + TAG_BYTES]) == []  # chunk 0 might be the final one
    assert [len(p) for p in opener.feed(blob[HEADER_BYTES + CHUNK + TAG_BYTES:])] == [CHUNK, CHUNK]
    assert len(opener.finish()) == 10
    with pytest.raises(ValueError, match="already finished"):
        opener.feed(b"x")


def test_an_opener_refuses_an_altered_chunk_in_the_piece_that_completes_it(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    tampered = bytearray(blob)
    tampered[HEADER_BYTES + 5] ^= 1
    opener = Opener(key)
    with pytest.raises(SealError) as err:
        opener.feed(bytes(tampered[:HEADER_BYTES + CHUNK + TAG_BYTES + 1]))
    assert err.value.part == "chunk 0"


def test_an_opener_refuses_an_altered_chunk_it_held_back_whole(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    tampered = bytearray(blob)
    tampered[HEADER_BYTES + CHUNK + 1] ^= 1  # in chunk 0's tag
    opener = Opener(key)
    assert opener.feed(bytes(tampered[:HEADER_BYTES + CHUNK + TAG_BYTES])) == []  # held back by reference
    with pytest.raises(SealError) as err:
        opener.feed(bytes(tampered[HEADER_BYTES + CHUNK + TAG_BYTES:]))
    assert err.value.part == "chunk 0"


def test_an_opener_keeps_no_view_of_a_buffer_the_caller_reuses(three_chunks: tuple[bytes, bytes]) -> None:
    key, blob = three_chunks
    opener, out, step = Opener(key), [], HEADER_BYTES + CHUNK + TAG_BYTES
    buffer = bytearray(blob[:step])
    out += opener.feed(buffer)
    buffer[:] = b"\x00" * len(buffer)  # as a reader's readinto would, with the next piece
    out += opener.feed(bytearray(blob[step:]))
    out.append(opener.finish())
    assert b"".join(out) == opened(blob, key)


def test_read_sizes_end_on_chunk_boundaries_and_open_in_place() -> None:
    record = CHUNK_SIZE + TAG_BYTES
    for offset in (0, 5, HEADER_BYTES, HEADER_BYTES + 4 * record, HEADER_BYTES + 4 * record + 9):
        size = read_size(offset)
        assert 3 * record < size <= 4 * record + HEADER_BYTES
        assert (offset + size - HEADER_BYTES) % record == 0
    key, plain = new_key(), os.urandom(5 * CHUNK_SIZE + 7)
    assert opened(sealed(plain, key, CHUNK_SIZE), key) == plain


def test_an_opener_refuses_a_huge_declared_chunk_before_buffering_it() -> None:
    blob = sealed(b"x" * 100, key := new_key())
    forged = blob[:9] + (MAX_CHUNK_SIZE + 1).to_bytes(4, "big") + blob[13:]
    with pytest.raises(SealError, match="chunk size") as err:
        Opener(key).feed(forged[:HEADER_BYTES])
    assert err.value.part == "header"


@pytest.mark.parametrize("blob, part", [(b"", "header"), (b"TPSEAL", "header")])
def test_an_opener_finished_early_says_what_is_missing(blob: bytes, part: str) -> None:
    opener = Opener(new_key())
    opener.feed(blob)
    with pytest.raises(SealError, match="shorter than its header") as err:
        opener.finish()
    assert err.value.part == part


def test_keys_and_chunk_sizes_out_of_range_are_refused() -> None:
    for bad in (b"", b"k" * 16, b"k" * 33):
        with pytest.raises(ValueError, match="data key"):
            Sealer(bad)
        with pytest.raises(ValueError, match="data key"):
            Opener(bad)
    for size in (0, MAX_CHUNK_SIZE + 1):
        with pytest.raises(ValueError, match="chunk size"):
            Sealer(new_key(), size)


def test_a_sealer_chunk_by_chunk_writes_the_format_open_sealed_reads() -> None:
    key, plain = new_key(), os.urandom(2 * CHUNK + 3)
    sealer = Sealer(key, CHUNK)
    blob = sealer.header + sealer.seal_chunk(plain[:CHUNK], False) + sealer.seal_chunk(plain[CHUNK:2 * CHUNK], False)
    blob += sealer.seal_chunk(plain[2 * CHUNK:], True)
    assert opened(blob, key) == plain
    with pytest.raises(ValueError, match="already sealed"):
        sealer.seal_chunk(b"", True)
    with pytest.raises(ValueError, match="only the final one"):
        Sealer(key, CHUNK).seal_chunk(b"short", False)


def _seal_all(sealer: Sealer, plain: bytes) -> bytes:
    return sealer.header + b"".join(record for _, record in sealer.chunks(io.BytesIO(plain)))


def test_again_reproduces_the_ciphertext_of_the_same_plaintext() -> None:
    plain = os.urandom(3 * CHUNK + 1)
    first = Sealer(new_key(), CHUNK)
    blob = _seal_all(first, plain)
    twin = first.again()
    assert _seal_all(twin, plain) == blob == _seal_all(first.again(), plain) == _seal_all(twin.again(), plain)
    assert _seal_all(Sealer(new_key(), CHUNK), plain) != blob


@pytest.mark.parametrize("change, part", [
    (lambda p: p[:CHUNK + 3] + bytes([p[CHUNK + 3] ^ 1]) + p[CHUNK + 4:], "chunk 1"),  # a byte flipped
    (lambda p: p[:-1], "chunk 2"),  # shorter: chunk 2 becomes the final one
    (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "chunk 3"),  # the final chunk changed (a random byte: flip it)
    (lambda p: p + b"more", "chunk 3"),  # longer: the old final chunk is not final any more
    (lambda p: p[:2 * CHUNK], "chunk 1"),  # shorter by whole chunks: chunk 1 becomes the final one
])
def test_again_withholds_the_first_chunk_that_differs(change, part: str) -> None:
    plain = os.urandom(3 * CHUNK + 1)
    first = Sealer(new_key(), CHUNK)
    _seal_all(first, plain)
    twin, released = first.again(), []
    with pytest.raises(SealError) as err:
        for _, record in twin.chunks(io.BytesIO(change(plain))):
            released.append(record)
    assert err.value.part == part
    assert len(released) == int(part.split()[1])  # nothing of the differing chunk was returned


def test_only_a_finished_sealing_can_be_reproduced() -> None:
    with pytest.raises(ValueError, match="finished"):
        Sealer(new_key()).again()


# --- the two passes of a sealed upload, without a server -------------------------------------------


def _read_all(stream: Resealed, sizes: list[int]) -> bytes:
    parts, i = [], 0
    while data := stream.read(sizes[i % len(sizes)]):
        parts.append(bytes(data))
        i += 1
    return b"".join(parts)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 5])
def test_survey_and_reseal_agree_on_both_hashes(tmp_path: Path, size: int) -> None:
    source = tmp_path / "plain.bin"
    source.write_bytes(plain := os.urandom(size))
    key, events = new_key(), []
    first = survey(source, key, Meter(lambda *e: events.append(e), "hash", size))
    assert (first.plaintext_sha256, first.plaintext_size) == (hashlib.sha256(plain).hexdigest(), size)
    assert first.size == sealed_size(size)
    with Resealed(source, first, "s3://snapshots/sha256/x") as stream:
        blob = _read_all(stream, [random.choice([1, 1000, 1 << 20, 3 << 20]) for _ in range(8)])
    assert (hashlib.sha256(blob).hexdigest(), len(blob)) == (first.sha256, first.size)
    assert opened(blob, key) == plain
    assert events[-1] == ("hash", size, size)


def test_reseal_refuses_a_source_changed_since_the_survey(tmp_path: Path) -> None:
    source = tmp_path / "plain.bin"
    source.write_bytes(os.urandom(3 * CHUNK_SIZE))
    first = survey(source, new_key(), Meter(None, "hash", 0))
    with open(source, "r+b") as stream:
        stream.seek(CHUNK_SIZE + 10)
        stream.write(b"changed")
    sent = 0
    with Resealed(source, first, "s3://snapshots/sha256/x") as stream, pytest.raises(IntegrityError) as err:
        while data := stream.read(-1):  # a chunk at a time
            sent += len(data)
    assert "changed while it was being uploaded" in str(err.value) and "chunk 1" in str(err.value)
    assert sent == HEADER_BYTES + CHUNK_SIZE + TAG_BYTES  # the header and chunk 0, nothing of chunk 1


def test_the_worker_raises_its_error_to_the_caller_and_stops() -> None:
    done: list[bytes] = []

    def call(data: bytes) -> None:
        if data == b"bad":
            raise OSError("disk full")
        done.append(data)

    with pytest.raises(OSError, match="disk full"), _Worker(depth=1) as worker:
        for data in (b"a", b"bad", b"c", b"d", b"e"):
            worker.submit(call, data)
        worker.drain()
    assert done[0] == b"a" and b"e" not in done  # in order, and nothing long after the failure
