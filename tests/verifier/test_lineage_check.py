"""verification.lineage_forged: when a child's snapshot 0 counts as its declared parent's final
weights, on real safetensors files (the cache is a stand-in that records downloads and opens
sealed files with the real sealing code)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from trainproof.storage.sealing import SealError, new_key, open_sealed, seal
from trainproof.verifier.verification import lineage_forged

pytestmark = pytest.mark.unit


class RecordingCache:
    """Hands back local files by SHA-256 and remembers which were asked for."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files, self.fetched = files, []

    def fetch(self, uri: str, sha256: str, size: int | None = None) -> Path:
        self.fetched.append(sha256)
        return self.files[sha256]

    def fetch_sealed(self, uri: str, ciphertext: dict, plaintext_sha256: str, key: bytes, directory: Path) -> Path:
        self.fetched.append(ciphertext["sha256"])
        out = directory / plaintext_sha256
        with open(self.files[ciphertext["sha256"]], "rb") as src, open(out, "wb") as dest:
            open_sealed(src, dest, key)
        return out


def sealed_final(tmp_path: Path, final: dict, key: bytes) -> tuple[dict, Path]:
    """The parent's final snapshot sealed with ``key``: its ciphertext entry and file."""
    path = tmp_path / "final.sealed"
    with open(tmp_path / "final.safetensors", "rb") as src, open(path, "wb") as dest:
        seal(src, dest, key)
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size}, path


def weights_file(path: Path, weights: dict[str, np.ndarray], note: str | None = None) -> dict:
    save_file(weights, str(path), metadata={"note": note} if note else None)
    return {"uri": f"s3://snapshots/{path.name}", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@pytest.fixture
def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"fc1.weight": rng.standard_normal((4, 3)).astype(np.float32), "fc1.bias": np.zeros(4, np.float32)}


def test_the_parents_final_file_itself_needs_no_download(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    cache = RecordingCache({})
    for sealed in (False, True):
        assert lineage_forged(tmp_path / "final.safetensors", final, {**final, "sealed": sealed}, cache) == ""
    assert cache.fetched == []


def test_same_weights_in_another_file_are_compared_layer_by_layer(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    start = weights_file(tmp_path / "start.safetensors", weights, note="fresh optimizer")
    assert start["sha256"] != final["sha256"]
    cache = RecordingCache({final["sha256"]: tmp_path / "final.safetensors"})
    assert lineage_forged(tmp_path / "start.safetensors", start, {**final, "sealed": False}, cache) == ""
    assert cache.fetched == [final["sha256"]]


def test_other_weights_are_named_as_forged(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    moved = {**weights, "fc1.bias": weights["fc1.bias"] + 1}
    start = weights_file(tmp_path / "start.safetensors", moved)
    cache = RecordingCache({final["sha256"]: tmp_path / "final.safetensors"})
    assert "fc1" in lineage_forged(tmp_path / "start.safetensors", start, {**final, "sealed": False}, cache)


def test_a_sealed_parent_is_never_downloaded_and_a_different_file_is_refused_with_the_reason(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    start = weights_file(tmp_path / "start.safetensors", weights, note="fresh optimizer")
    cache = RecordingCache({})
    reason = lineage_forged(tmp_path / "start.safetensors", start, {**final, "sealed": True}, cache)
    assert "sealed" in reason and "unchanged" in reason and start["sha256"][:16] in reason
    assert cache.fetched == []


def test_a_sealed_parent_is_opened_with_the_key_its_submitter_delivered_and_compared(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    key = new_key()
    ciphertext, sealed_path = sealed_final(tmp_path, final, key)
    cache = RecordingCache({ciphertext["sha256"]: sealed_path})
    private = tmp_path / "private"
    private.mkdir()
    parent = {**final, "sealed": True, "ciphertext": ciphertext, "key": key}
    start = weights_file(tmp_path / "start.safetensors", weights, note="fresh optimizer")
    assert lineage_forged(tmp_path / "start.safetensors", start, parent, cache, private) == ""
    assert cache.fetched == [ciphertext["sha256"]]
    moved = weights_file(tmp_path / "moved.safetensors", {**weights, "fc1.bias": weights["fc1.bias"] + 1})
    assert "fc1" in lineage_forged(tmp_path / "moved.safetensors", moved, parent, cache, private)


def test_a_parent_key_that_does_not_open_is_named_and_no_key_says_why(tmp_path, weights):
    final = weights_file(tmp_path / "final.safetensors", weights)
    ciphertext, sealed_path = sealed_final(tmp_path, final, new_key())
    cache = RecordingCache({ciphertext["sha256"]: sealed_path})
    start = weights_file(tmp_path / "start.safetensors", weights, note="fresh optimizer")
    wrong = {**final, "sealed": True, "ciphertext": ciphertext, "key": new_key()}
    assert "does not open with the key" in lineage_forged(tmp_path / "start.safetensors", start, wrong, cache, tmp_path)
    refused = {**final, "sealed": True, "no_key": "the contract gives this verifier no key to it (stranger)"}
    assert "(stranger)" in lineage_forged(tmp_path / "start.safetensors", start, refused, cache, tmp_path)
    with pytest.raises(SealError):  # the stand-in really opens: a wrong key fails there, not in the test
        cache.fetch_sealed("", ciphertext, final["sha256"], new_key(), tmp_path)
