"""Sealed artifacts against the live MinIO: it holds only ciphertext, under the ciphertext's SHA-256,
and a verifier gets the plaintext back only if every chunk is authentic and the plaintext has the
committed hash (the ciphertext is not hashed on download: storage/sealed.py says why)."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from trainproof.storage import SNAPSHOTS, IntegrityError
from trainproof.storage.housekeeping import purge
from trainproof.storage.sealing import CHUNK_SIZE, HEADER_BYTES, TAG_BYTES, SealError, new_key, seal, sealed_size
from trainproof.storage.uris import object_key

pytestmark = pytest.mark.storage
# A pattern no ciphertext should show; 2.5 chunks, so the last chunk is a short one.
PATTERN = b"patient-record:0123456789abcdef;confidential-dataset:trainproof!"
assert len(PATTERN) == 64


@pytest.fixture
def plaintext(tmp_path: Path) -> Path:
    path = tmp_path / "records.bin"
    path.write_bytes(PATTERN * (5 * CHUNK_SIZE // 2 // len(PATTERN)) + b"tail")
    return path


@pytest.fixture
def stored(submitter, plaintext: Path, created):
    key = new_key()
    artifact = submitter.put_sealed(plaintext, SNAPSHOTS, key)
    created.append((SNAPSHOTS, artifact.sha256))
    return artifact, key


def _object_bytes(admin_s3, sha256: str) -> bytes:
    response = admin_s3.get_object(SNAPSHOTS, object_key(sha256))
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _replace_object(admin_s3, sha256: str, body: bytes) -> None:
    """What a MinIO operator could do: remove every version (retention bypassed) and store other bytes."""
    purge(admin_s3, SNAPSHOTS, sha256)
    admin_s3.put_object(SNAPSHOTS, object_key(sha256), io.BytesIO(body), len(body))


def test_minio_holds_only_ciphertext_under_its_sha256(stored, plaintext: Path, admin_s3):
    artifact, _ = stored
    body = _object_bytes(admin_s3, artifact.sha256)
    plain = plaintext.read_bytes()
    assert artifact.uri == f"s3://snapshots/sha256/{artifact.sha256}"
    assert (hashlib.sha256(body).hexdigest(), len(body)) == (artifact.sha256, artifact.size)
    assert (artifact.plaintext_sha256, artifact.plaintext_size) == (hashlib.sha256(plain).hexdigest(), len(plain))
    assert artifact.size == sealed_size(len(plain))
    # The plaintext repeats PATTERN, so its 64-byte windows are PATTERN's rotations: none is stored.
    windows = {(PATTERN * 2)[i:i + 64] for i in range(64)}
    assert not any(window in body for window in windows)


def test_sealed_round_trip_reports_progress(submitter, verifier, plaintext: Path, tmp_path: Path, created):
    key, events = new_key(), []
    artifact = submitter.put_sealed(plaintext, SNAPSHOTS, key, progress=lambda *e: events.append(e))
    created.append((SNAPSHOTS, artifact.sha256))
    assert events[-1] == ("upload", artifact.size, artifact.size)
    assert ("hash", artifact.plaintext_size, artifact.plaintext_size) in events

    dest = tmp_path / "fetched" / "records.bin"
    downloads = []
    got = verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, key, dest,
                              progress=lambda *e: downloads.append(e), expected_size=artifact.size)
    assert got == dest and dest.read_bytes() == plaintext.read_bytes()
    assert downloads[-1] == ("download", artifact.size, artifact.size)
    assert [p.name for p in dest.parent.iterdir()] == ["records.bin"]  # no partial file left


def test_a_flipped_ciphertext_byte_in_minio_is_refused_naming_its_chunk(stored, verifier, admin_s3, tmp_path):
    artifact, key = stored
    body = bytearray(_object_bytes(admin_s3, artifact.sha256))
    body[HEADER_BYTES + CHUNK_SIZE + TAG_BYTES + 5] ^= 1  # in chunk 1
    _replace_object(admin_s3, artifact.sha256, bytes(body))

    dest = tmp_path / "fetched" / "records.bin"
    with pytest.raises(SealError) as error:
        verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, key, dest)
    assert error.value.part == "chunk 1"
    assert artifact.uri in str(error.value) and "chunk 1 failed authentication" in str(error.value)
    assert list(dest.parent.iterdir()) == []  # chunk 0 was authentic, but is not the artifact


def test_a_wrong_key_is_refused_at_the_first_chunk(stored, verifier, tmp_path):
    artifact, _ = stored
    dest = tmp_path / "fetched" / "records.bin"
    with pytest.raises(SealError) as error:
        verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, new_key(), dest)
    assert error.value.part == "chunk 0"
    assert list(dest.parent.iterdir()) == []


def test_a_wrong_plaintext_hash_is_refused_naming_the_plaintext(stored, verifier, tmp_path):
    artifact, key = stored
    dest = tmp_path / "fetched" / "records.bin"
    other = hashlib.sha256(b"another snapshot").hexdigest()
    with pytest.raises(IntegrityError) as error:
        verifier.get_sealed(artifact.uri, artifact.sha256, other, key, dest)
    assert (error.value.which, error.value.expected, error.value.actual) == ("plaintext", other,
                                                                            artifact.plaintext_sha256)
    assert "plaintext" in str(error.value)
    assert list(dest.parent.iterdir()) == []


def test_another_sealing_under_the_key_opens_to_the_committed_plaintext_and_is_accepted(
        stored, verifier, plaintext, admin_s3, tmp_path):
    # Sealed again with the same data key (a fresh nonce prefix): other bytes at rest, every chunk
    # authentic. Only a key holder can make such a sealing, and it opens to exactly the committed
    # plaintext, so what the reader gets is what the ledger commits to: it is accepted.
    artifact, key = stored
    other = io.BytesIO()
    with open(plaintext, "rb") as source:
        seal(source, other, key)
    assert other.getvalue() != _object_bytes(admin_s3, artifact.sha256)
    assert hashlib.sha256(other.getvalue()).hexdigest() != artifact.sha256
    _replace_object(admin_s3, artifact.sha256, other.getvalue())

    dest = tmp_path / "fetched" / "records.bin"
    got = verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, key, dest,
                              expected_size=artifact.size)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == artifact.plaintext_sha256
    assert got.read_bytes() == plaintext.read_bytes()


def test_a_sealing_of_other_bytes_under_the_key_is_refused_naming_the_plaintext(stored, verifier, plaintext,
                                                                               admin_s3, tmp_path):
    # The same key, every chunk authentic, but one byte of the plaintext changed: the plaintext check refuses it.
    artifact, key = stored
    changed = bytearray(plaintext.read_bytes())
    changed[CHUNK_SIZE + 7] ^= 0x20
    other = io.BytesIO()
    seal(io.BytesIO(bytes(changed)), other, key)
    _replace_object(admin_s3, artifact.sha256, other.getvalue())

    dest = tmp_path / "fetched" / "records.bin"
    with pytest.raises(IntegrityError) as error:
        verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, key, dest)
    assert (error.value.which, error.value.expected, error.value.actual) == (
        "plaintext", artifact.plaintext_sha256, hashlib.sha256(bytes(changed)).hexdigest())
    assert list(dest.parent.iterdir()) == []


def test_a_truncated_or_extended_ciphertext_is_refused_at_its_end(stored, verifier, admin_s3, tmp_path):
    artifact, key = stored
    body = _object_bytes(admin_s3, artifact.sha256)
    last = (len(body) - HEADER_BYTES - 1) // (CHUNK_SIZE + TAG_BYTES)  # the final chunk's index
    for changed, part in ((body[:HEADER_BYTES + 2 * (CHUNK_SIZE + TAG_BYTES)], "chunk 1"),
                          (body + b"\x00" * 40, f"chunk {last}")):
        _replace_object(admin_s3, artifact.sha256, changed)
        dest = tmp_path / "fetched" / "records.bin"
        with pytest.raises(SealError) as error:
            verifier.get_sealed(artifact.uri, artifact.sha256, artifact.plaintext_sha256, key, dest)
        assert error.value.part == part, (len(changed), str(error.value))
        assert list(dest.parent.iterdir()) == []


def test_a_file_changed_between_the_passes_is_not_stored(submitter, plaintext: Path, admin_s3, created):
    def change_after_hashing(phase: str, done: int, total: int) -> None:
        if phase == "hash" and done == total:
            with open(plaintext, "r+b") as stream:
                stream.seek(CHUNK_SIZE + 3)
                stream.write(b"changed")

    with pytest.raises(IntegrityError, match="changed while it was being uploaded") as error:
        submitter.put_sealed(plaintext, SNAPSHOTS, new_key(), progress=change_after_hashing)
    created.append((SNAPSHOTS, error.value.expected))
    assert list(admin_s3.list_objects(SNAPSHOTS, prefix=object_key(error.value.expected), include_version=True)) == []
