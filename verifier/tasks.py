"""Celery tasks. ``verify_interval`` and ``check_attestation`` are idempotent: they read the
ledger before doing anything.

The task is thin: ``run_verification_task`` does the work, and how the finding becomes a vote
is a parameter (``honest`` here), so an experiment's own worker app (the robustness
benchmark's malicious verifiers) wraps the same procedure without a branch in production.
"""
from __future__ import annotations

import logging
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from celery.exceptions import Reject

from trainproof.storage import ArtifactStore, StorageUnavailable
from trainproof.storage.sealing import SealError
from trainproof.confidential.artifacts import my_batch_key, my_keys, sealed_entries
from trainproof.confidential.keywrap import KeyWrapError
from trainproof.contract import Conflict, ContractError, NotFound, Refused, TrainproofContract
from trainproof.contract import Transient as LedgerTransient
from trainproof.profile import IdentityFiles, Profile
from trainproof.verifier.app import app
from trainproof.verifier.artifacts import ArtifactCache
from trainproof.verifier.settings import cache_max_bytes, worker_identity
from trainproof.verifier.recompute import Check, recompute
from trainproof.verifier.verification import Finding
from trainproof.verifier.verification import verify_interval as run_verification

log = logging.getLogger("verifier")
# A service that did not answer: the same task later, with backoff (Celery's autoretry of Transient).
TRANSIENT = (StorageUnavailable, LedgerTransient, ConnectionError)


class Transient(Exception):
    """Worth retrying later: a service was down or a concurrent vote won the race."""


@dataclass
class Resources:
    ledger: TrainproofContract
    store: ArtifactStore
    cache: ArtifactCache
    files: IdentityFiles  # this worker's certificate and key (a confidential model's keys are wrapped to them)


@lru_cache(maxsize=1)
def resources() -> Resources:
    """One gateway, store and cache per worker process."""
    identity = worker_identity()
    profile = Profile.load()
    gateway = profile.connect(identity.name)
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
    store = ArtifactStore.from_state(role="verifier", org=identity.org)
    cache = ArtifactCache(store, identity.cache_dir / "artifacts", max_bytes=cache_max_bytes())
    return Resources(TrainproofContract(contract), store, cache, profile.identity_files(identity.name))


@contextmanager
def private_directory(res: Resources) -> Iterator[Path]:
    """A directory of the task's own (0700, removed afterwards, or by the next sweep if the worker
    dies first) for decrypted artifacts: never the shared cache, the plaintext must not outlive the task."""
    private_dir = res.cache.task_directory("sealed")
    try:
        yield private_dir
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)


def model_keys(res: Resources, certificate: dict[str, Any]) -> dict[str, bytes] | Finding:
    """This verifier's data keys of a confidential model. Keys not delivered yet are worth waiting
    for (Transient: the submitter delivers after the assignment); keys that do not open are the
    submitter's fault, a REJECT finding."""
    try:
        return my_keys(res.ledger, certificate["model_id"], res.files)
    except NotFound as exc:
        raise Transient(f"data keys not delivered yet: {exc.reason}") from exc
    except KeyWrapError as exc:
        return Finding("REJECT", f"unusable submission: the data keys delivered to this verifier do not open: {exc}")


@contextmanager
def sealed_inputs(res: Resources, certificate: dict[str, Any],
                  needs_private_dir: bool = False) -> Iterator[tuple[Any, Path | None]]:
    """For a confidential model: this verifier's data keys (``model_keys``) and a private
    directory; (None, None) otherwise, or (None, a directory) when ``needs_private_dir`` (a
    sealed parent to open)."""
    if not certificate.get("confidential") and not needs_private_dir:
        yield None, None
        return
    keys = model_keys(res, certificate) if certificate.get("confidential") else None
    with private_directory(res) as private_dir:
        yield keys, private_dir


def declared_parent(res: Resources, certificate: dict[str, Any]) -> dict[str, Any]:
    """The lineage claim interval 0's seats check: the declared parent's final snapshot entry, with
    ``sealed``; for a sealed one that snapshot 0 is not the file of, its ``ciphertext`` entry and
    the key its submitter delivered to this verifier (``key``), or why there is none (``no_key``).
    A key not delivered yet is worth waiting for (the parent's key agent delivers after assignment)."""
    parent_id = certificate["parent_id"]
    parent = res.ledger.get_model(parent_id)["certificate"]
    final = parent["snapshots"][-1]
    ciphertext = sealed_entries(parent).get(final["sha256"])
    entry = {**final, "sealed": ciphertext is not None}
    if ciphertext is None or final["sha256"] == certificate["snapshots"][0]["sha256"]:
        return entry
    try:
        keys = my_keys(res.ledger, parent_id, res.files, child=certificate["model_id"])
        return {**entry, "ciphertext": ciphertext, "key": keys[final["sha256"]]}
    except NotFound as exc:
        raise Transient(f"the parent's final snapshot key is not delivered yet: {exc.reason}") from exc
    except (Refused, Conflict) as exc:
        if exc.status is None:
            raise
        return {**entry, "no_key": f"the contract gives this verifier no key to it ({exc.reason})"}
    except KeyWrapError as exc:
        return {**entry, "no_key": f"the key its submitter delivered does not open ({exc})"}


def _interval_record(assignment: dict, interval: int) -> dict | None:
    return next((i for i in assignment.get("intervals", []) if int(i["interval"]) == interval), None)


# (finding, certificate, interval) -> the verdict and evidence the vote carries.
Cast = Callable[[Finding, dict[str, Any], int], tuple[str, dict[str, Any]]]


def honest(finding: Finding, certificate: dict[str, Any], interval: int) -> tuple[str, dict[str, Any]]:
    return finding.verdict, finding.vote_evidence()


# The task's name on the queue and its retry policy, shared by every app that serves it.
# shared=False: Celery otherwise adds a task to every app, and an experiment's app around the same
# task (bench/robustness/worker.py) would get this one under its name, its own never registered.
TASK_OPTIONS: dict[str, Any] = dict(bind=True, name="verifier.verify_interval", autoretry_for=(Transient,),
                                    retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=10,
                                    shared=False)


@app.task(**TASK_OPTIONS)
def verify_interval(self, model_id: str, interval: int, verifier: str) -> dict[str, Any]:
    return run_verification_task(self, model_id, interval, verifier, honest)


def run_verification_task(task, model_id: str, interval: int, verifier: str, cast: Cast) -> dict[str, Any]:
    """Check the ledger, replay, vote with ``cast``'s verdict; the task's result (JSON)."""
    started = time.monotonic()
    identity = worker_identity()
    if verifier != identity.fingerprint:
        raise Reject(f"task for verifier {verifier[:16]} reached worker {identity.name}", requeue=False)
    res = resources()
    outcome = {"model_id": model_id, "interval": interval, "verifier": identity.name}
    try:
        if any(v["verifier"]["fingerprint"] == verifier for v in res.ledger.get_votes(model_id, interval)):
            return {**outcome, "status": "already voted"}
        assignment = res.ledger.get_assignment(model_id)
        record = _interval_record(assignment, interval)
        if record is None or record.get("decision") or verifier not in record.get("verifiers", []):
            return {**outcome, "status": "no longer assigned or already decided"}
        kind = record.get("kind", "replay")  # replay (a selected interval) or scores (a score check)
        outcome["kind"] = kind
        certificate = res.ledger.get_model(model_id)["certificate"]
        # The consortium limits frozen at assignment, like every other setting of this model (an
        # assignment older than the limits has none: its work is still held to the ledger's sizes and steps).
        limits = assignment.get("config") or {}

        def progress(done: int, total: int) -> None:
            if done == total or done % max(1, total // 4) == 0:
                log.info("replaying %s interval %d: step %d/%d", model_id, interval, done, total)
                task.update_state(state="PROGRESS", meta={"done": done, "total": total})

        # The lineage claim: interval 0's seats check it.
        parent_final = declared_parent(res, certificate) if certificate.get("parent_id") and interval == 0 else None
        before = res.cache.downloaded
        with res.cache.task(), sealed_inputs(res, certificate, needs_private_dir="key" in (parent_final or {})) as (
                keys, private_dir):
            finding = keys if isinstance(keys, Finding) else run_verification(
                certificate, interval, res.store, res.cache, on_step=progress, parent_final=parent_final,
                limits=limits, keys=keys, private_dir=private_dir, kind=kind)
        finding.evidence["downloaded"] = res.cache.downloaded - before  # bytes this task fetched (cache misses)
        verdict, evidence = cast(finding, certificate, interval)
        res.ledger.submit_vote(model_id, interval, verdict, evidence)
    except TRANSIENT as exc:
        raise Transient(str(exc)) from exc
    except ContractError as exc:
        if isinstance(exc, Conflict) and exc.status is None:  # read conflict: another vote committed first
            raise task.retry(exc=exc, countdown=random.uniform(0.5, 3.0))
        if exc.status is None:  # committed invalid for another reason: a fault to see, not a verdict
            raise
        # Refused, NotFound or a 409 (double vote, already decided): the contract's final word.
        log.warning("ledger refused %s interval %d: %s", model_id, interval, exc.reason)
        return {**outcome, "status": "refused", "reason": exc.reason}
    log.info("voted %s on %s interval %d (%s)", verdict, model_id, interval, finding.reason)
    return {**outcome, "status": "voted", "verdict": verdict, "reason": finding.reason,
            "replay_seconds": finding.replay_seconds, "task_seconds": round(time.monotonic() - started, 3)}


@app.task(bind=True, name="verifier.check_attestation", autoretry_for=(Transient,), retry_backoff=2,
          retry_backoff_max=60, retry_jitter=True, max_retries=10)
def check_attestation(self, attestation_id: str, verifier: str) -> dict[str, Any]:
    """Recompute an audited attestation and record CONFIRMED or DISPUTED (recompute.py)."""
    identity = worker_identity()
    if verifier != identity.fingerprint:
        raise Reject(f"task for verifier {verifier[:16]} reached worker {identity.name}", requeue=False)
    res = resources()
    outcome = {"attestation_id": attestation_id, "verifier": identity.name}
    try:
        record = res.ledger.get_attestation(attestation_id)
        audit = record["audit"]
        if audit["state"] != "AUDITING" or audit.get("verifier") != verifier:
            return {**outcome, "status": f"not assigned here (audit {audit['state']})"}
        certificate = res.ledger.get_model(record["model_id"])["certificate"]
        final = certificate["snapshots"][-1]["sha256"]
        check, batch_key = None, None
        if "sealed" in record["batch"]:  # its attester's key agent delivers this auditor the batch's key
            try:
                batch_key = my_batch_key(res.ledger, record, res.files)
            except NotFound as exc:
                raise Transient(f"the batch file's key is not delivered yet: {exc.reason}") from exc
            except KeyWrapError as exc:  # the attester must make its attestation checkable
                check = Check("DISPUTED", f"unusable attestation: the batch file's key its attester delivered does not "
                                          f"open for this verifier: {exc}")
        if check is None:
            with res.cache.task(), private_directory(res) as private_dir:
                key = None
                if final in sealed_entries(certificate):  # the submitter's key agent delivers the final key
                    keys = model_keys(res, certificate)
                    if isinstance(keys, Finding) or final not in keys:
                        why = keys.reason if isinstance(keys, Finding) else "no key for the final snapshot was delivered"
                        return {**outcome, "status": f"cannot recompute: {why}"}
                    key = keys[final]
                check = recompute(record, certificate, res.cache, key=key, private_dir=private_dir, batch_key=batch_key)
        res.ledger.confirm_attestation(attestation_id, check.verdict, check.as_evidence())
    except TRANSIENT as exc:
        raise Transient(str(exc)) from exc
    except SealError as exc:  # the delivered key or the stored ciphertext: the submitter's to fix
        return {**outcome, "status": f"cannot recompute: the sealed final snapshot does not open: {exc}"}
    except ContractError as exc:
        if exc.status is None:
            raise
        log.warning("ledger refused the check of attestation %s: %s", attestation_id, exc.reason)
        return {**outcome, "status": "refused", "reason": exc.reason}
    log.info("attestation %s: %s (%s)", attestation_id, check.verdict, check.reason)
    return {**outcome, "status": "checked", "verdict": check.verdict, "reason": check.reason}
