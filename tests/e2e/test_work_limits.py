"""One submission cannot tie up verifiers (issue 15, finding 11).

The contract refuses certificates whose replay work is over the consortium's limits (its
settings ``max_steps_per_interval``, ``max_dataset_bytes``, ``max_snapshot_bytes``), and a
worker runs exactly what the ledger says: a snapshot whose own metadata claims another step
than the certificate's manifest ends in a REJECT vote with that reason, not in a replay of the
claimed 10^9 steps.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contract.live.conftest import Live, fake_payload
from trainproof.ml.snapshot import read_snapshot, write_snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture()
def live(profile, connect) -> Live:
    return Live(profile, connect)


def test_a_certificate_over_the_consortium_limits_is_refused(live):
    limits = live.query("GetConfig")["values"]
    huge_steps = fake_payload("limits-steps", intervals=1, steps_per_interval=10**9)
    live.refuse("org1-user1", "SubmitModel", huge_steps, status=400,
                match=f"limits: recipe/steps_per_interval 1000000000 is over the consortium's max_steps_per_interval "
                      f"{limits['max_steps_per_interval']}")
    huge_data = fake_payload("limits-dataset", intervals=2)
    huge_data["dataset"]["size"] = limits["max_dataset_bytes"] + 1
    live.refuse("org1-user1", "SubmitModel", huge_data, status=400, match="limits: dataset/size")
    huge_snapshot = fake_payload("limits-snapshot", intervals=2)
    huge_snapshot["snapshots"][1]["size"] = limits["max_snapshot_bytes"] + 1
    live.refuse("org1-user1", "SubmitModel", huge_snapshot, status=400, match="limits: snapshot 1 size")
    for payload in (huge_steps, huge_data, huge_snapshot):
        assert live.model(payload["model_id"]) is None


def _claim_step(run_dir: Path, index: int, step: int) -> None:
    """Rewrite snapshot ``index`` so that its own metadata claims ``step`` (the run's manifest,
    and so the certificate, keeps the real step; only the file's hash and size follow the edit)."""
    run_file = run_dir / "run.json"
    run = json.loads(run_file.read_text())
    entry = next(s for s in run["snapshots"] if s["index"] == index)
    path = run_dir / entry["file"]
    snap = read_snapshot(path)
    entry["sha256"], entry["size"] = write_snapshot(path, snap.tensors, {**snap.meta, "step": step})
    run_file.write_text(json.dumps(run, indent=2))


def test_snapshot_metadata_claiming_more_steps_than_the_ledger_ends_in_a_reject(train, submit, verdict, submitter):
    # One interval: it is always selected (the audit sample takes at least one).
    run_dir = train("claims-1e9-steps", intervals=1, steps_per_interval=10)
    _claim_step(run_dir, 1, 10**9)
    submitted = submit(run_dir)
    state = verdict(submitted.model_id, timeout=180)
    assert state["status"] == "REJECTED", state
    reasons = [v["evidence"]["reason"] for v in json.loads(submitter.evaluate("GetVotes", [submitted.model_id]))["votes"]]
    assert reasons and all("records step 1000000000, the certificate's manifest says 10" in r for r in reasons), reasons
