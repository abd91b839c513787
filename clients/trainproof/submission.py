"""Submitting a recorded run: upload its artifacts, then its birth certificate in one transaction.

    store = ArtifactStore.from_state(role="submitter", org="org1")
    submitted = submit_run("runs/digits", contract, store, parent_id=None, progress=cb)
    state = TrainproofContract(contract).wait_for_verdict(submitted.model_id, timeout=600)

Artifacts go first and the certificate last, so the ledger never names an object MinIO does
not hold. Uploads are content-addressed: submitting the same run again sends no bytes, only a
new certificate with a new ``model_id``. Used by ``trainproof submit``, the demo and the
end-to-end tests; it imports neither torch nor the CLI.
"""
from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from trainproof.storage import DATASETS, SNAPSHOTS, ArtifactStore, ProgressFn
from trainproof.contract import CONFLICT_CODES, TrainproofContract, Transient, classify
from trainproof.gateway import CommitError, CommitStatusError, Contract, GatewayError
from trainproof.ml import certificate

# SubmitModel reads the parent's state: a concurrent verdict on the parent invalidates it (CONFLICT_CODES).


class SubmissionError(Exception):
    """The run directory cannot be submitted as it is (missing files, changed since recording)."""


@dataclass(frozen=True)
class LocalFile:
    """One artifact of the run: where it is, which bucket it goes to, what run.json says of it."""

    label: str
    path: Path
    bucket: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Submitted:
    """What the ledger accepted."""

    model_id: str
    tx_id: str
    state: dict[str, Any]
    certificate: dict[str, Any]
    artifact_bytes: int  # dataset + snapshots (already stored ones count too, though nothing was sent for them)
    keys: dict[str, bytes] = field(default_factory=dict)  # confidential: plaintext SHA-256 → data key


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], list[LocalFile]]:
    """``run.json`` and the artifacts it names, checked for presence and size before any upload."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SubmissionError(f"{run_dir} is not a directory")
    path = run_dir / certificate.RUN_FILE
    if not path.is_file():
        raise SubmissionError(f"{run_dir} has no {certificate.RUN_FILE}: it is not a finished recorded run "
                              "(Recorder.finish() writes it)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        entries = [("dataset", run["dataset"], DATASETS)]
        entries += [(f"snapshot {s['index']}", s, SNAPSHOTS) for s in sorted(run["snapshots"], key=lambda s: s["index"])]
        files = [LocalFile(label, run_dir / entry["file"], bucket, entry["sha256"], int(entry["size"]))
                 for label, entry, bucket in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"{path} is not a recorder's run.json ({type(exc).__name__}: {exc})") from None
    if len(files) < 3:
        raise SubmissionError(f"{path} lists {len(files) - 1} snapshot(s); a run has at least two (one interval)")
    for f in files:
        if not f.path.is_file():
            raise SubmissionError(f"{f.label} is missing: {f.path} does not exist")
        if f.path.stat().st_size != f.size:
            raise SubmissionError(f"{f.label} changed since it was recorded: {f.path} has {f.path.stat().st_size} "
                                  f"bytes, run.json says {f.size}")
    if any(isinstance(s, dict) and "input_profile" not in s for s in run.get("scores") or []):
        # Recorded before intervals claimed their input profiles: scored again from the snapshots
        # (what every verifier recomputes), so an older run still submits with today's claims.
        from trainproof.ml.metrics import interval_scores
        run["scores"] = interval_scores([f.path for f in files[1:]])
    if any(isinstance(s, dict) and "probe_loss" not in s for s in run["scores"]):
        # Recorded before intervals claimed their probe losses: computed from the dataset and the
        # snapshots as every verifier recomputes them (ml/probe.py).
        from trainproof.ml.data import load_dataset
        from trainproof.ml.probe import add_probe_losses
        add_probe_losses(run["scores"], run["recipe"], load_dataset(files[0].path, files[0].sha256),
                         [f.path for f in files[1:]])
    return run, files


class _RunProgress:
    """Turns per-file progress into one count per phase over the whole run (hash, upload)."""

    def __init__(self, progress: ProgressFn, total: int) -> None:
        self.progress, self.total = progress, total
        self.base = 0

    def file(self, phase: str, done: int, _file_total: int) -> None:
        self.progress(phase, self.base + done, self.total)

    def finished(self, size: int) -> None:
        """A file is stored (sent now or already there): both phases move past it."""
        self.base += size
        for phase in ("hash", "upload"):
            self.progress(phase, self.base, self.total)


def upload_artifacts(files: list[LocalFile], store: ArtifactStore,
                     progress: Optional[ProgressFn] = None) -> dict[str, str]:
    """Store every artifact under its SHA-256; returns label → URI. Refuses bytes run.json does not name."""
    meter = _RunProgress(progress, sum(f.size for f in files)) if progress else None
    uris = {}
    for f in files:
        artifact = store.put_file(f.path, f.bucket, progress=meter.file if meter else None)
        if artifact.sha256 != f.sha256:
            raise SubmissionError(f"{f.label} changed since it was recorded: {f.path} has SHA-256 {artifact.sha256}, "
                                  f"run.json says {f.sha256}")
        uris[f.label] = artifact.uri
        if meter:
            meter.finished(f.size)
    return uris


def build_certificate(run: dict[str, Any], uris: dict[str, str], *, model_id: str, name: str | None = None,
                      parent_id: str | None = None) -> dict[str, Any]:
    """The SubmitModel argument: run.json without local fields, plus the id, the URIs and the parent."""
    cert = certificate.for_submission(run)
    cert["model_id"] = model_id
    if name:
        cert["name"] = name
    if parent_id:
        cert["parent_id"] = parent_id
    cert["dataset"]["uri"] = uris["dataset"]
    for snap in cert["snapshots"]:
        snap["uri"] = uris[f"snapshot {snap['index']}"]
    return cert


def submit_certificate(contract: Contract, cert: dict[str, Any], attempts: int = 10) -> tuple[str, dict[str, Any]]:
    """SubmitModel, resubmitted on a read conflict; returns (tx id, model state).

    Every submission takes the next number of the ledger's model order, so submissions that
    land in one block conflict and only one commits. The waits grow and are random, so a crowd
    of submitters (20 at once in bench-robustness; 4 fixed retries left 14 of them failed)
    spreads over later blocks instead of colliding again."""
    ledger = TrainproofContract(contract)
    for attempt in range(1, attempts + 1):
        submitted = ledger.submit_model_async(cert)
        try:
            status = submitted.get_status()
        except CommitStatusError:
            # Unknown outcome: the ledger says whether it landed (the id is ours alone).
            state = ledger.find_model(cert["model_id"])
            if state is None:
                raise
            return submitted.tx_id, state
        if status.successful:
            return submitted.tx_id, json.loads(submitted.result)
        if status.code not in CONFLICT_CODES or attempt == attempts:
            raise CommitError(f"SubmitModel {status.tx_id} committed as invalid: {status.code} "
                              f"(block {status.block_number})", status.tx_id, status.code, status.block_number)
        time.sleep(random.uniform(0.2, 1.0) * attempt)
    raise AssertionError("unreachable")


def submit_run(run_dir: str | Path, contract: Contract, store: ArtifactStore, *, name: str | None = None,
               parent_id: str | None = None, model_id: str | None = None,
               progress: Optional[ProgressFn] = None, confidential: Iterable[str] = ()) -> Submitted:
    """Upload the run's dataset and snapshots, then submit its certificate; returns the model id and state.

    ``confidential`` ("dataset", "snapshots"): those artifacts are sealed before upload, each with
    a fresh data key, returned in ``Submitted.keys`` (keep them: `confidential.artifacts`)."""
    run, files = read_run(run_dir)
    sealed, keys = {}, {}
    if confidential:
        from trainproof.confidential.artifacts import seal_and_upload

        uris, sealed, keys = seal_and_upload(files, store, confidential, progress)
    else:
        uris = upload_artifacts(files, store, progress)
    cert = build_certificate(run, uris, model_id=model_id or str(uuid.uuid4()), name=name, parent_id=parent_id)
    if sealed:
        cert["confidential"] = sealed
    tx_id, state = submit_certificate(contract, cert)
    return Submitted(cert["model_id"], tx_id, state, cert, sum(f.size for f in files), keys)


def model_state(contract: Contract, model_id: str) -> dict[str, Any]:
    """``TrainproofContract.model_state``, for callers holding a gateway ``Contract``."""
    return TrainproofContract(contract).model_state(model_id)


def get_state(contract: Contract, model_id: str) -> dict[str, Any] | None:
    """``TrainproofContract.find_model``: the state, or None if the ledger has no such model."""
    return TrainproofContract(contract).find_model(model_id)


def is_transient(exc: GatewayError) -> bool:
    """A node or the chaincode server did not answer, as opposed to the contract refusing (4xx)."""
    return isinstance(classify(exc), Transient)


def wait_for_verdict(contract: Contract, model_id: str, timeout: float = 600.0, poll: float = 2.0,
                     on_update: Optional[Callable[[dict[str, Any]], None]] = None) -> dict[str, Any]:
    """``TrainproofContract.wait_for_verdict``, for callers holding a gateway ``Contract``."""
    return TrainproofContract(contract).wait_for_verdict(model_id, timeout, poll, on_update)
