"""Verifying one assigned interval: the procedure behind the Celery task.

1. download the interval's two snapshots (never the rest of the run) and check the claims they
   can check: the interval's scores and input profile, and every claimed input shift against
   the claimed profiles (``claims_mismatch``);
2. for interval 0 of a model with a declared parent: check that snapshot 0 is the parent's final
   snapshot file, or holds its weights (the layer hash chains agree), else the lineage is forged;
3. download the dataset and recompute the interval's claimed probe loss at both ends
   (``probe_mismatch``); a score check (an unselected interval's seat) ends here with ACCEPT;
   a selected interval is replayed from its start snapshot and compared with the submitted end;
4. store the replayed snapshot as evidence and return the verdict with its distances.
Anything wrong with the submission itself (bad hash, missing object, unknown architecture,
falsified scores, a recipe the replay cannot follow) is a REJECT "unusable submission" with the
reason, never a crash: a model left without votes would end INCONCLUSIVE, a verdict a cheater
could choose instead of REJECTED.
"""
from __future__ import annotations

import logging
import math
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from trainproof.confidential.artifacts import sealed_entries
from trainproof.confidential.keywrap import KeyWrapError
from trainproof.storage import EVIDENCE, ArtifactStore, StorageError, StorageUnavailable
from trainproof.storage.sealing import SealError
from trainproof.ml.hashchain import layer_chain
from trainproof.ml.metrics import METRICS, input_profile, score_pair
from trainproof.ml.data import load_dataset
from trainproof.ml.outliers import profile_shift
from trainproof.ml.probe import close as probe_close, probe_losses
from trainproof.ml.registry import SpecError, build_model
from trainproof.ml.replay import replay_interval
from trainproof.ml.snapshot import SnapshotError
from trainproof.verifier.artifacts import ArtifactCache

log = logging.getLogger("verifier")
SCORE_TOLERANCE = 1e-6  # relative; scores are float64 sums over the same bytes


NO_REPLAY = "0" * 64  # replay_sha256 of a vote cast without replaying (the reason says why)
SCORES = "scores"  # the record kind of a score check (chaincode/contract/assignment.py)


@dataclass
class Finding:
    verdict: str  # ACCEPT | REJECT
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    replay_seconds: float = 0.0

    def vote_evidence(self) -> dict[str, Any]:
        """The SubmitVote evidence argument (schema/vote_evidence.json in the contract). The reason
        may quote the submission (an exception's text): control and format characters, which the
        contract refuses, are written out as \\uXXXX."""
        evidence = {"distances": {"replayed": 0}, "replay_sha256": NO_REPLAY, **self.evidence}
        return {**evidence, "reason": printable(self.reason)[:2048]}


def printable(text: str) -> str:
    """``text`` with every control or format character (Unicode Cc, Cf, Cs, Zl, Zp) as \\uXXXX."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch
                   for ch in text)


def _json_number(value: float) -> float:
    """JSON has no infinity: an interval that claims no change at all has rel_error = ∞."""
    return float(value) if math.isfinite(value) else sys.float_info.max


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SCORE_TOLERANCE, abs_tol=1e-12)


def claims_mismatch(certificate: dict[str, Any], interval: int, start: Path, end: Path) -> str:
    """'' if the certificate's claims that one interval's snapshots can check hold, else the first
    that does not: the interval's four scores and input profile (from ``start`` and ``end``), and
    every interval's ``input_shift``, which is a function of the claimed profiles alone
    (``outliers.profile_shift``). So no task needs more than its own interval's snapshots, and a
    profile falsified to move some shift is caught by that interval's own checkers."""
    scores = certificate["scores"]
    claimed = scores[interval]
    recomputed = score_pair(start, end)
    for metric in METRICS:
        if not _close(float(recomputed[metric]), float(claimed[metric])):
            return (f"claimed {metric} of interval {interval} is {float(claimed[metric]):.6g}, the snapshots give "
                    f"{float(recomputed[metric]):.6g}")
    profile = input_profile(start, end)
    theirs = claimed.get("input_profile")
    if theirs is None or len(theirs) != len(profile):
        return (f"claimed input_profile of interval {interval} has {len(theirs) if theirs else 0} inputs, the "
                f"snapshots' first weight matrix has {len(profile)}")
    for column, (a, b) in enumerate(zip(profile, theirs)):
        if not _close(a, float(b)):
            return f"claimed input_profile of interval {interval} is {float(b):.6g} at input {column}, the snapshots give {a:.6g}"
    shift = profile_shift([[float(v) for v in s["input_profile"]] for s in scores])
    for s in scores:
        expected = shift.get(s["interval"], 0.0)
        if not _close(expected, float(s["input_shift"])):
            return (f"claimed input_shift of interval {s['interval']} is {float(s['input_shift']):.6g}, the claimed "
                    f"input profiles give {expected:.6g}")
    return ""


def probe_mismatch(certificate: dict[str, Any], interval: int, start: Path, end: Path, dataset: Path) -> str:
    """'' if the interval's claimed probe loss at both ends (``ml/probe.py``) is what its two
    snapshots give on the dataset, else what differs. A certificate stored before probe losses
    were claimed has none to check (the contract's schema requires them of every new one)."""
    claimed = certificate["scores"][interval].get("probe_loss")
    if claimed is None:
        return ""
    recipe = certificate["recipe"]
    found = probe_losses(recipe["architecture"], recipe["loss"], load_dataset(dataset, certificate["dataset"]["sha256"]),
                         [start, end])
    for where, theirs, ours in zip(("start", "end"), claimed, found):
        if not probe_close(float(theirs), ours):
            return (f"claimed probe_loss of interval {interval} at its {where} is {float(theirs):.9g}, the snapshots give "
                    f"{ours:.9g} on the dataset")
    return ""


def lineage_mismatch(start: Path, parent_final: Path) -> str:
    """'' if the child's first snapshot holds exactly the parent's final weights, else what differs."""
    mine, theirs = layer_chain(start), layer_chain(parent_final)
    if mine["layers"] != theirs["layers"]:
        return f"snapshot 0 has layers {mine['layers'][:8]}, the parent's final weights {theirs['layers'][:8]}"
    for layer, a, b in zip(mine["layers"], mine["chain"][1:], theirs["chain"][1:]):
        if a != b:
            return f"snapshot 0's layer {layer!r} differs from the parent's final weights"
    return "" if mine["chain"] == theirs["chain"] else "snapshot 0's weights differ from the parent's final weights"


def lineage_forged(start: Path, start_entry: dict[str, Any], parent_final: dict[str, Any],
                   cache: ArtifactCache, private_dir: Path | None = None) -> str:
    """'' if snapshot 0 (``start``, its certificate entry ``start_entry``) starts from the declared
    parent's final snapshot ``parent_final``, else why not. ``parent_final`` is its ledger entry
    with ``sealed`` (the parent is confidential) and, for a sealed one, the ``ciphertext`` entry
    and the ``key`` its submitter delivered to this verifier, or ``no_key``: why there is none.

    The same file (equal plaintext SHA-256) holds the same weights: nothing to download. Otherwise
    the weights are compared layer by layer, which needs the parent's final weights: a sealed
    parent's are opened into ``private_dir`` with the delivered key (the contract lets the parent's
    submitter give it to a child it or its grantees submitted). Without a key, a child of a
    confidential parent must start from the parent's final snapshot file unchanged.
    """
    if start_entry["sha256"] == parent_final["sha256"]:
        return ""
    if not parent_final.get("sealed"):
        return lineage_mismatch(start, cache.fetch(parent_final["uri"], parent_final["sha256"]))
    differs = (f"snapshot 0 (plaintext SHA-256 {start_entry['sha256'][:16]}…) is not the declared parent's final "
               f"snapshot file ({parent_final['sha256'][:16]}…), and that file is sealed")
    if parent_final.get("key") is None or private_dir is None:
        why = parent_final.get("no_key") or "no key to it was delivered to this verifier"
        return (f"{differs}: {why}; a child of a confidential parent starts from the parent's final snapshot file "
                "unchanged, or its parent's submitter delivers that file's key to the child's interval-0 verifiers")
    try:
        opened = cache.fetch_sealed(parent_final["uri"], parent_final["ciphertext"], parent_final["sha256"],
                                    parent_final["key"], private_dir)
    except StorageUnavailable:
        raise
    except StorageError as exc:
        return f"{differs}, and it does not open with the key the parent's submitter delivered: {exc}"
    return lineage_mismatch(start, opened)


def parameter_count(architecture: dict) -> int:
    """Parameters of an architecture spec, counted on torch's meta device: nothing is allocated,
    so a claimed giant model costs nothing to measure. SpecError if the registry refuses it."""
    import torch

    with torch.device("meta"):
        model = build_model(architecture)
    return sum(p.numel() for p in model.parameters())


def over_limits(certificate: dict, interval: int, limits: dict[str, Any]) -> str:
    """'' if the task's work is within the consortium limits (the settings frozen in the model's
    assignment), else what is over. Sizes and steps are the ledger's: downloads are held to them
    and replay runs exactly the manifest's steps, so the limits bound the real work."""
    by_index = {s["index"]: s for s in certificate["snapshots"]}
    steps = by_index[interval + 1]["step"] - by_index[interval]["step"]
    checks = [("max_steps_per_interval", steps, f"interval {interval} spans {steps} steps"),
              ("max_dataset_bytes", certificate["dataset"]["size"],
               f"the dataset is {certificate['dataset']['size']} bytes"),
              *(("max_snapshot_bytes", s["size"], f"snapshot {s['index']} is {s['size']} bytes")
                for s in certificate["snapshots"])]
    for setting, value, what in checks:
        if setting in limits and value > limits[setting]:
            return f"over the consortium's limits: {what}, {setting} is {limits[setting]}"
    if "max_parameters" in limits:
        count = parameter_count(certificate["recipe"]["architecture"])
        if count > limits["max_parameters"]:
            return f"over the consortium's limits: the architecture has {count} parameters, max_parameters is " \
                   f"{limits['max_parameters']}"
    return ""


def verify_interval(certificate: dict, interval: int, store: ArtifactStore, cache: ArtifactCache,
                    on_step: Callable[[int, int], None] | None = None,
                    parent_final: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
                    keys: dict[str, bytes] | None = None, private_dir: Path | None = None,
                    kind: str = "replay") -> Finding:
    """``parent_final``: the declared parent's final snapshot entry ({uri, sha256, sealed}) from the ledger;
    ``limits``: the consortium limits in force for this model (its assignment's config);
    ``keys``: a confidential model's data keys delivered to this verifier (plaintext SHA-256 →
    key), its sealed artifacts decrypted into ``private_dir`` (the caller's, removed after the task);
    ``kind``: what the contract seated this verifier for, ``replay`` (a selected interval) or
    ``scores`` (an unselected one: its claims and probe losses checked, nothing replayed)."""
    snapshots = certificate["snapshots"]
    if not 0 <= interval < len(snapshots) - 1:
        return Finding("REJECT", f"interval {interval} does not exist in the manifest")
    sealed = sealed_entries(certificate)

    def fetch(entry: dict[str, Any], what: str) -> Path:
        if entry["sha256"] not in sealed:
            return cache.fetch(entry["uri"], entry["sha256"], entry.get("size"))
        key = (keys or {}).get(entry["sha256"])
        if key is None or private_dir is None:
            raise SealError(f"{what} is sealed and its data key was not delivered to this verifier", part="key")
        try:
            return cache.fetch_sealed(entry["uri"], sealed[entry["sha256"]], entry["sha256"], key, private_dir)
        except StorageUnavailable:
            raise
        except StorageError as exc:  # a GCM tag that fails, a plaintext that is not the commitment: name it
            raise StorageError(f"{what} ({entry['uri']}): {exc}") from exc

    try:
        over = over_limits(certificate, interval, limits or {})
        if over:
            return Finding("REJECT", over)
        start, end = (fetch(snapshots[j], f"snapshot {j}") for j in (interval, interval + 1))
        mismatch = claims_mismatch(certificate, interval, start, end)
        if mismatch:
            return Finding("REJECT", f"falsified scores: {mismatch}", {"scores_match": False})
        if parent_final is not None and interval == 0:  # interval 0's verifiers hold snapshot 0
            forged = lineage_forged(start, snapshots[0], parent_final, cache, private_dir)
            if forged:
                return Finding("REJECT", f"lineage: {forged} (declared parent {certificate.get('parent_id')})",
                               {"scores_match": True})
        dataset = fetch(certificate["dataset"], "the dataset")
        mismatch = probe_mismatch(certificate, interval, start, end, dataset)
        if mismatch:
            return Finding("REJECT", f"falsified scores: {mismatch}", {"scores_match": False})
        if kind == SCORES:
            checked = "its claimed scores and probe losses match its snapshots" + (
                " and it starts from the parent's final weights" if parent_final is not None and interval == 0 else "")
            return Finding("ACCEPT", f"score check of interval {interval}: {checked}",
                           {"scores_match": True, "details": {"mode": SCORES}})
        started = time.monotonic()
        out = cache.output_path(f"replay-{certificate['model_id']}-{interval}.safetensors")
        result = replay_interval(start, end, certificate, dataset, on_step=on_step, out_path=out)
        seconds = time.monotonic() - started
    except StorageUnavailable:
        raise  # MinIO is down: retry later, the submission may be fine
    except (StorageError, SnapshotError, SpecError, KeyWrapError) as exc:
        # Bad address, missing or tampered object (a sealed one's GCM tag included), a key that does
        # not open, unknown architecture: the submitter's fault.
        return Finding("REJECT", f"unusable submission: {exc}")
    except (MemoryError, OSError):
        raise  # this worker's own fault (memory, local disk): no verdict on the submission
    except Exception as exc:  # noqa: BLE001 - whatever else the replay cannot process is the submission's
        log.warning("unusable submission %s interval %d", certificate.get("model_id"), interval, exc_info=True)
        return Finding("REJECT", f"unusable submission: {type(exc).__name__}: {str(exc)[:500]}")
    evidence = store.put_file(result.replayed_path, EVIDENCE)
    Path(result.replayed_path).unlink(missing_ok=True)
    numeric = {k: v for k, v in result.distances.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    numeric["rel_error"] = result.rel_error
    distances = {k: _json_number(v) for k, v in numeric.items() if not v < 0}
    verdict = "ACCEPT" if result.accepted else "REJECT"
    reason = result.reason or ("replay matches the submitted snapshot" + (" exactly" if result.exact else ""))
    return Finding(verdict, reason, {
        "distances": distances, "replay_sha256": result.replayed_sha256, "evidence_sha256": evidence.sha256,
        "evidence_uri": evidence.uri, "scores_match": True,
        "details": {"exact": bool(result.exact), "mode": str(result.distances.get("mode", ""))},
    }, seconds)
