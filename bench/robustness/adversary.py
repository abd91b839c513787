"""Malicious verifiers, for the robustness experiment (Navarro et al., Fig. 3) only: the
benchmark's own worker app (bench/robustness/worker.py) votes through ``cast``.

ordered: approves every interval it is given (covers for bad training).
chaotic: inverts its honest verdict (also rejects valid intervals).

The contract refuses a vote its own evidence contradicts, so a lie comes with forged
evidence to match, as a real adversary's would: a false ACCEPT claims a bit-identical
replay, a false REJECT a replay that differs.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

from trainproof.verifier.verification import Finding

# Set in a worker's environment by bench/workers.py; read by that worker only.
ADVERSARY_ENV = "TRAINPROOF_EXPERIMENT_ADVERSARY"
ADVERSARY_MODES = ("ordered", "chaotic")


def mode_from_env() -> str | None:
    """This worker's adversary mode (None: honest); an unknown value is an error, never honesty."""
    mode = os.environ.get(ADVERSARY_ENV, "").strip().lower()
    if mode and mode not in ADVERSARY_MODES:
        raise ValueError(f"{ADVERSARY_ENV} must be one of {', '.join(ADVERSARY_MODES)} (or unset)")
    return mode or None


def cast_verdict(verdict: str, mode: str | None) -> str:
    """The verdict an adversary of ``mode`` (None: honest) casts when its replay says ``verdict``."""
    if mode is None:
        return verdict
    if mode == "ordered":
        return "ACCEPT"
    if mode == "chaotic":
        return "REJECT" if verdict == "ACCEPT" else "ACCEPT"
    raise ValueError(f"unknown adversary mode {mode!r}")


def corrupt(verdict: str, evidence: dict[str, Any], mode: str | None, end_sha256: str) -> tuple[str, dict[str, Any]]:
    """The verdict an adversary of ``mode`` casts instead of ``verdict``, and its evidence."""
    lie = cast_verdict(verdict, mode)
    if lie == verdict:
        return verdict, evidence
    if lie == "ACCEPT":
        return lie, {**evidence, "replay_sha256": end_sha256, "scores_match": True,
                     "distances": {name: 0.0 for name in evidence["distances"]},
                     "reason": "replay matches the submitted snapshot exactly"}
    forged = hashlib.sha256(b"forged replay of " + end_sha256.encode()).hexdigest()
    return lie, {**evidence, "replay_sha256": forged, "reason": "replay differs from the submitted snapshot"}


def cast(finding: Finding, certificate: dict[str, Any], interval: int) -> tuple[str, dict[str, Any]]:
    """The vote of this worker (``$TRAINPROOF_EXPERIMENT_ADVERSARY``) for ``finding``."""
    end = next((snap["sha256"] for snap in certificate["snapshots"] if snap["index"] == interval + 1), "")
    return corrupt(finding.verdict, finding.vote_evidence(), mode_from_env(), end)
