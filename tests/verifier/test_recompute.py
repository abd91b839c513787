"""recompute(): an audited attestation's outputs recomputed from the certified weights (issue 17).

Real training (the ml fixtures' digits MLP) and real batch files; only the artifact cache is a
directory instead of MinIO, so what is tested is the verdict logic: bit-exact on the same
execution fingerprint, a stated tolerance on another one, DISPUTED otherwise, and an unusable or
mismatched batch DISPUTED naming it, never a crash.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainproof.attestation import batch as batch_file
from trainproof.ml.certificate import snapshot_paths
from trainproof.ml.data import digits
from trainproof.ml.inference import execution_fingerprint, load_model, predict
from trainproof.ml.snapshot import sha256_file
from trainproof.storage import StorageError, sealing
from trainproof.verifier.recompute import OUTPUT_TOLERANCE, recompute
from tests.ml.conftest import mlp_run  # noqa: F401  (the session's trained digits MLP)

pytestmark = pytest.mark.ml


class DirectoryCache:
    """ArtifactCache's interface over local files, keyed by SHA-256 (the hash is checked)."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}

    def add(self, path: Path) -> dict:
        sha = sha256_file(path)
        self.files[sha] = path
        return {"uri": f"s3://datasets/sha256/{sha}", "sha256": sha, "size": path.stat().st_size}

    def fetch(self, uri: str, sha256: str, size: int | None = None) -> Path:
        path = self.files[sha256]
        assert sha256_file(path) == sha256
        return path

    def fetch_sealed(self, uri: str, ciphertext: dict, plaintext_sha256: str, key: bytes, directory: Path) -> Path:
        """Opened as ArtifactCache opens it (sealing.open_sealed, then the plaintext hash), from a local file."""
        path = directory / plaintext_sha256
        with self.fetch(uri, ciphertext["sha256"]).open("rb") as src, path.open("wb") as dst:
            sealing.open_sealed(src, dst, key)
        if sha256_file(path) != plaintext_sha256:
            raise StorageError(f"{uri}: the plaintext is not {plaintext_sha256}")
        return path


@pytest.fixture(scope="module")
def model(mlp_run):
    run_dir, run = mlp_run
    final = snapshot_paths(run_dir, run)[-1]
    certificate = {**run, "model_id": "00000000-0000-4000-8000-0000000000aa", "snapshots": [{**s, "uri": f"s3://snapshots/sha256/{s['sha256']}"} for s in run["snapshots"]]}
    return certificate, final, load_model(run, final)


@pytest.fixture
def attested(model, tmp_path):
    """attested(outputs=None, execution=None, rows=8) → (record, cache) as the ledger and a worker would have them."""
    certificate, final, net = model
    (_, _), (x, _) = digits()
    inputs = x.numpy()[:8]

    def make(outputs=None, execution=None, claimed_root=None):
        out = predict(net, inputs) if outputs is None else outputs
        cache = DirectoryCache()
        cache.add(final)
        batch = cache.add(batch_file.write(tmp_path / "batch.safetensors", inputs, out, certificate["model_id"]))
        items = batch_file.Items.of(inputs, out)
        record = {"model_id": certificate["model_id"], "weights_sha256": certificate["snapshots"][-1]["sha256"],
                  "count": items.count, "root": claimed_root or items.root(), "batch": batch,
                  "execution": execution or execution_fingerprint()}
        return record, cache
    return make


def test_honest_outputs_are_confirmed_bit_exact(model, attested):
    record, cache = attested()
    check = recompute(record, model[0], cache)
    assert check.verdict == "CONFIRMED" and check.evidence["exact"] and check.evidence["output_root"] == record["root"]
    assert check.evidence["fingerprint_match"] and check.evidence["mismatched"] == 0


def test_a_forged_output_is_disputed_with_the_recomputed_root(model, attested):
    honest = predict(model[2], digits()[1][0].numpy()[:8])
    forged = honest.copy()
    forged[2, 5] += 0.25
    record, cache = attested(outputs=forged)
    check = recompute(record, model[0], cache)
    assert check.verdict == "DISPUTED" and check.evidence["mismatched"] == 1
    assert check.evidence["output_root"] == batch_file.Items.of(digits()[1][0].numpy()[:8], honest).root()
    assert "1 of 8 output(s) differ" in check.reason


def test_another_environment_is_held_to_the_stated_tolerance(model, attested):
    honest = predict(model[2], digits()[1][0].numpy()[:8])
    elsewhere = {**execution_fingerprint(), "threads": 4, "cpu_model": "another CPU"}
    nudged = honest.copy()
    nudged[0, 0] = np.nextafter(nudged[0, 0], np.float32(np.inf))  # a rounding difference
    record, cache = attested(outputs=nudged, execution=elsewhere)
    check = recompute(record, model[0], cache)
    assert check.verdict == "CONFIRMED" and not check.evidence["exact"] and not check.evidence["fingerprint_match"]
    assert check.evidence["tolerance"] == pytest.approx(OUTPUT_TOLERANCE * max(1.0, float(np.abs(nudged).max())))
    wrong = honest.copy()
    wrong[0, 0] += 10 * check.evidence["tolerance"]
    record, cache = attested(outputs=wrong, execution=elsewhere)
    assert recompute(record, model[0], cache).verdict == "DISPUTED"
    record, cache = attested(outputs=nudged)  # the same fingerprint: no tolerance at all
    assert recompute(record, model[0], cache).verdict == "DISPUTED"


def test_a_batch_that_is_not_the_attested_one_or_not_a_batch_is_disputed(model, attested, tmp_path):
    record, cache = attested(claimed_root="ab" * 32)
    check = recompute(record, model[0], cache)
    assert check.verdict == "DISPUTED" and "not the attested" in check.reason
    record, cache = attested()
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    record["batch"] = cache.add(garbage)
    check = recompute(record, model[0], cache)
    assert check.verdict == "DISPUTED" and check.reason.startswith("unusable attestation:")
    assert check.as_evidence()["output_root"] == "0" * 64


def test_a_sealed_final_snapshot_is_opened_with_the_auditors_key(model, attested, tmp_path):
    """A confidential model: the final snapshot exists only sealed; with the key its submitter
    delivered, the check is the same as in the clear, and a wrong key is no verdict at all."""
    certificate, final, _ = model
    record, cache = attested()
    key = sealing.new_key()
    sealed_path = tmp_path / "final.sealed"
    with final.open("rb") as src, sealed_path.open("wb") as dst:
        sealing.seal(src, dst, key)
    ciphertext = cache.add(sealed_path)
    del cache.files[certificate["snapshots"][-1]["sha256"]]  # storage holds ciphertext only
    last = certificate["snapshots"][-1]["index"]
    confidential = {**certificate, "confidential": {"snapshots": [{"index": last, "sha256": ciphertext["sha256"],
                                                                   "size": ciphertext["size"]}]}}
    private = tmp_path / "private"
    private.mkdir()
    with pytest.raises(ValueError, match="sealed"):
        recompute(record, confidential, cache)
    check = recompute(record, confidential, cache, key=key, private_dir=private)
    assert check.verdict == "CONFIRMED" and check.evidence["exact"]
    for leftover in private.iterdir():
        leftover.unlink()
    with pytest.raises(sealing.SealError):
        recompute(record, confidential, cache, key=sealing.new_key(), private_dir=private)


def test_a_sealed_batch_file_is_opened_with_its_attesters_key_and_a_wrong_one_is_the_attesters_fault(
        model, attested, tmp_path):
    certificate, _, _ = model
    record, cache = attested()
    key = sealing.new_key()
    plain = cache.files[record["batch"]["sha256"]]
    sealed_path = tmp_path / "batch.sealed"
    with plain.open("rb") as src, sealed_path.open("wb") as dst:
        sealing.seal(src, dst, key)
    ciphertext = cache.add(sealed_path)
    del cache.files[record["batch"]["sha256"]]  # storage holds the batch's ciphertext only
    sealed = {**record, "batch": {**record["batch"], "uri": ciphertext["uri"],
                                  "sealed": {"sha256": ciphertext["sha256"], "size": ciphertext["size"]}}}
    private = tmp_path / "private"
    private.mkdir()
    with pytest.raises(ValueError, match="sealed"):
        recompute(sealed, certificate, cache, private_dir=private)
    check = recompute(sealed, certificate, cache, private_dir=private, batch_key=key)
    assert check.verdict == "CONFIRMED" and check.evidence["exact"]
    for leftover in private.iterdir():
        leftover.unlink()
    wrong = recompute(sealed, certificate, cache, private_dir=private, batch_key=sealing.new_key())
    assert wrong.verdict == "DISPUTED" and "does not open with the key its attester delivered" in wrong.reason
