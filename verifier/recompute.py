"""Recomputing an audited attestation: the procedure behind the ``check_attestation`` task.

1. fetch the model's final snapshot and the attestation's batch file, each only with the
   ledger's SHA-256 (a confidential model's sealed final snapshot is opened with the data key its
   submitter delivered to this auditor; one that does not open is no verdict on the attester; a
   sealed batch file is opened with the key its attester delivered, and one that does not open
   is the attester's fault);
2. the batch's rows must give the attested Merkle root: otherwise the file is not what was
   attested, and the attester, who chose both, is at fault (DISPUTED);
3. rebuild the model from the registry, run it on the batch's inputs, and compare: CONFIRMED
   when the outputs are bit-identical (always expected when this worker's execution
   fingerprint is the attester's), or, when the fingerprints differ, when every output is
   within ``OUTPUT_TOLERANCE`` of the attested one; DISPUTED otherwise, with the recomputed root.

A batch file that cannot be read, or a model that cannot be rebuilt, is DISPUTED naming the
artifact, never a crash: the attester must make its attestation checkable.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainproof.attestation import batch as batch_file
from trainproof.confidential.artifacts import sealed_entries
from trainproof.storage import StorageError, StorageUnavailable
from trainproof.storage.sealing import SealError
from trainproof.verifier.artifacts import ArtifactCache

log = logging.getLogger("verifier")
# Outputs recomputed on another execution environment (threads, CPU, library build) differ by
# rounding: relative to the largest attested output, 1e-4 is far above float32 rounding of a
# forward pass (≈1e-6) and far below any output change that alters a prediction.
OUTPUT_TOLERANCE = 1e-4
NO_ROOT = "0" * 64  # output_root of a check that recomputed nothing (the reason says why)


class AttesterSealError(Exception):
    """A sealed batch file that does not open with its attester's key: the attester's fault."""


def _batch(batch: dict[str, Any], cache: ArtifactCache, key: bytes | None, private_dir: Path | None) -> Path:
    if "sealed" not in batch:
        return cache.fetch(batch["uri"], batch["sha256"], batch["size"])
    if key is None or private_dir is None:
        raise ValueError("recompute: the batch file is sealed; pass its attester's key and a private directory")
    try:
        return cache.fetch_sealed(batch["uri"], batch["sealed"], batch["sha256"], key, private_dir)
    except SealError as exc:
        raise AttesterSealError(f"the batch file does not open with the key its attester delivered: {exc}") from exc


@dataclass
class Check:
    verdict: str  # CONFIRMED | DISPUTED
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_evidence(self) -> dict[str, Any]:
        base = {"output_root": NO_ROOT, "exact": False, "max_abs_diff": 0.0, "tolerance": 0.0, "checked": 0}
        return {**base, **self.evidence, "reason": self.reason[:2048]}


def recompute(record: dict[str, Any], certificate: dict[str, Any], cache: ArtifactCache,
              key: bytes | None = None, private_dir: Path | None = None, batch_key: bytes | None = None) -> Check:
    """Check one attestation (its ledger record) against the model's ledger certificate. A sealed
    final snapshot (a confidential model) is opened with ``key``, the data key its submitter
    delivered to this auditor, and a sealed batch file with ``batch_key``, its attester's, into
    ``private_dir`` (the caller's, removed after the check)."""
    from trainproof.ml.fingerprint import differences
    from trainproof.ml.inference import execution_fingerprint, load_model, predict
    from trainproof.ml.registry import SpecError
    from trainproof.ml.snapshot import SnapshotError

    final = certificate["snapshots"][-1]
    if record["weights_sha256"] != final["sha256"]:
        return Check("DISPUTED", f"the attested weights {record['weights_sha256'][:16]}… are not the final snapshot")
    try:
        sealed = sealed_entries(certificate).get(final["sha256"])
        if sealed is None:
            weights = cache.fetch(final["uri"], final["sha256"], final["size"])
        elif key is None or private_dir is None:
            raise ValueError("recompute: the final snapshot is sealed; pass its data key and a private directory")
        else:
            weights = cache.fetch_sealed(final["uri"], sealed, final["sha256"], key, private_dir)
        inputs, claimed = batch_file.read(_batch(record["batch"], cache, batch_key, private_dir))
    except (StorageUnavailable, SealError):
        raise  # MinIO is down: check later; the submitter's key does not open: not the attester's fault
    except (StorageError, SnapshotError, batch_file.BatchError, AttesterSealError) as exc:
        return Check("DISPUTED", f"unusable attestation: {exc}")
    items = batch_file.Items.of(inputs, claimed)
    if items.count != record["count"] or items.root() != record["root"]:
        return Check("DISPUTED", f"the batch file's {items.count} rows give root {items.root()[:16]}…, not the attested "
                                 f"{record['count']} with root {record['root'][:16]}…")
    try:
        outputs = predict(load_model(certificate, weights), inputs)
    except (SpecError, SnapshotError, ValueError) as exc:
        return Check("DISPUTED", f"the model cannot run on the attested inputs: {exc}")
    mine = execution_fingerprint()
    same_env = not differences(record.get("execution") or {}, mine)
    recomputed = batch_file.Items.of(inputs, outputs)
    evidence: dict[str, Any] = {"output_root": recomputed.root(), "checked": items.count, "fingerprint_match": same_env,
                                "execution": mine}
    if outputs.shape != claimed.shape:
        return Check("DISPUTED", f"the model gives outputs of shape {list(outputs.shape)}, the batch claims "
                                 f"{list(claimed.shape)}", {**evidence, "mismatched": items.count})
    diff = np.abs(outputs.astype(np.float64) - claimed.astype(np.float64))
    max_diff = float(diff.max()) if diff.size else 0.0
    exact = recomputed.root() == record["root"]
    tolerance = 0.0 if same_env else OUTPUT_TOLERANCE * max(1.0, float(np.abs(claimed).max()))
    per_row = diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(len(diff))
    evidence.update(exact=exact, max_abs_diff=max_diff if np.isfinite(max_diff) else 1e300, tolerance=tolerance,
                    mismatched=int((per_row > tolerance).sum()))
    if exact:
        return Check("CONFIRMED", f"all {items.count} output(s) recomputed bit-identical", evidence)
    if not same_env and max_diff <= tolerance:
        return Check("CONFIRMED", f"all {items.count} output(s) within {tolerance:.3g} of the attested ones "
                                  "(another execution environment)", evidence)
    return Check("DISPUTED", f"{evidence['mismatched']} of {items.count} output(s) differ from the model's "
                             f"(largest difference {max_diff:.6g}, tolerance {tolerance:.3g})", evidence)
