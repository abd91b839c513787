"""From training to verdict through the whole system: recorder → MinIO → ledger → dispatcher →
Celery workers replaying intervals → votes → verdict."""
from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import assignment, votes

pytestmark = pytest.mark.e2e


def _selected(contract, model_id: str, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(contract.evaluate("GetModel", [model_id]))
        if state.get("selected") is not None:
            return [int(i) for i in state["selected"]]
        time.sleep(0.5)
    raise AssertionError(f"model {model_id} was never assigned")


def test_honest_model_is_verified_with_exact_replays(train, submit, verdict, submitter):
    submitted = submit(train("honest"))
    state = verdict(submitted.model_id)
    assert state["status"] == "VERIFIED", state
    cast = votes(submitter, submitted.model_id)
    assert cast and all(v["verdict"] == "ACCEPT" for v in cast)
    replayed = [v for v in cast if v["evidence"]["details"].get("mode") != "scores"]
    assert replayed and all(v["evidence"]["details"]["exact"] for v in replayed), "same fingerprint: replay must be bit-exact"


def test_poisoned_interval_that_is_selected_is_rejected_naming_it(train, submit, verdict, submitter):
    poisoned = 4
    # Which intervals get checked is the assigner's draw, not ours: train and submit fresh poisoned
    # runs until the poisoned interval is among the selected ones (each try is a few seconds). Each
    # try is a new run: the ledger refuses the same snapshots claimed twice.
    for attempt in range(20):
        submitted = submit(train(f"poisoned-{attempt}", poison_intervals=[poisoned], poison_fraction=1.0))
        if poisoned in _selected(submitter, submitted.model_id):
            break
    else:
        pytest.fail(f"interval {poisoned} was never selected in 20 submissions")
    state = verdict(submitted.model_id)
    assert state["status"] == "REJECTED", state
    assert poisoned in state["rejected_intervals"]
    assert f"interval {poisoned}" in state["reason"]


def test_skipped_interval_is_always_checked_and_rejected(train, submit, verdict):
    skipped = 3
    submitted = submit(train("lazy", skip_intervals=[skipped]))
    state = verdict(submitted.model_id)
    assert state["status"] == "REJECTED", state
    assert skipped in state["rejected_intervals"]


def test_falsified_claimed_scores_are_rejected(train, submit, verdict):
    run_dir = train("liar")
    run_file = run_dir / "run.json"
    run = json.loads(run_file.read_text())
    run["scores"][2]["absolute"] *= 0.5  # pretend interval 2 changed the weights less than it did
    run_file.write_text(json.dumps(run))
    submitted = submit(run_dir)
    state = verdict(submitted.model_id)
    assert state["status"] == "REJECTED", state
    assert "falsified scores" in state["reason"]


def test_child_model_keeps_its_family_tree(train, submit, verdict, submitter):
    parent_dir = train("parent")
    parent = submit(parent_dir)
    final = max((parent_dir / "snapshots").glob("*.safetensors"), key=lambda p: int(p.stem))
    child = submit(train("child", parent_snapshot=final), parent_id=parent.model_id)
    assert verdict(child.model_id)["status"] == "VERIFIED"
    lineage = json.loads(submitter.evaluate("GetLineage", [child.model_id]))
    assert [a["model_id"] for a in lineage["ancestors"]] == [parent.model_id]
    assert assignment(submitter, child.model_id)["intervals"]
