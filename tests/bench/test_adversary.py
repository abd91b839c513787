"""The robustness experiment's adversaries: their lies must get past the contract's evidence check."""
from __future__ import annotations

import pytest

from trainproof.chaincode.contract.votes import NO_REPLAY, check_consistent
from trainproof.chaincode.shim.stub import ChaincodeError
from bench.robustness.adversary import corrupt
from trainproof.verifier.verification import NO_REPLAY as VERIFIER_NO_REPLAY

pytestmark = pytest.mark.unit
END = "e" * 64
HONEST = {
    "exact accept": ("ACCEPT", {"distances": {"rel_error": 0.0}, "replay_sha256": END, "scores_match": True}),
    "replay differs": ("REJECT", {"distances": {"rel_error": 0.3}, "replay_sha256": "d" * 64, "scores_match": True}),
    "falsified scores": ("REJECT", {"distances": {"replayed": 0}, "replay_sha256": NO_REPLAY, "scores_match": False}),
}


@pytest.mark.parametrize("mode", [None, "ordered", "chaotic"])
@pytest.mark.parametrize("finding", sorted(HONEST))
def test_every_vote_cast_passes_the_contracts_evidence_check(mode, finding):
    verdict, evidence = HONEST[finding]
    check_consistent(verdict, evidence, END)  # the honest finding itself is consistent
    cast, forged = corrupt(verdict, evidence, mode, END)
    check_consistent(cast, forged, END)
    expected = {None: verdict, "ordered": "ACCEPT", "chaotic": "REJECT" if verdict == "ACCEPT" else "ACCEPT"}[mode]
    assert cast == expected
    assert (forged is evidence) == (cast == verdict)  # evidence is forged only for a lie


def test_a_lie_with_its_honest_evidence_would_be_refused():
    verdict, evidence = HONEST["exact accept"]
    with pytest.raises(ChaincodeError, match="a REJECT must show a difference"):
        check_consistent("REJECT", evidence, END)


def test_both_sides_mean_the_same_no_replay():
    assert NO_REPLAY == VERIFIER_NO_REPLAY


def test_the_benchmark_worker_serves_the_product_task_and_production_has_no_adversary() -> None:
    """The malicious worker is the benchmark's own app around the product's task, not a branch in it."""
    import inspect

    from bench.robustness import worker
    from trainproof.verifier import settings, tasks

    assert worker.verify_interval.name == tasks.verify_interval.name == tasks.TASK_OPTIONS["name"]
    assert worker.app is not tasks.app and worker.app.conf.task_acks_late == tasks.app.conf.task_acks_late
    source = inspect.getsource(tasks) + inspect.getsource(settings)
    assert "adversary" not in source.lower() and "EXPERIMENT" not in source


def test_the_experiment_worker_runs_its_own_task_not_the_products():
    """Celery adds an app's tasks to every app unless told not to: the product's verify_interval
    then held the experiment worker's task name, and its "malicious" workers voted honestly."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DuplicateTaskNameWarning is a failure
        from bench.robustness import worker
        from trainproof.verifier import tasks

        task = worker.app.tasks["verifier.verify_interval"]
        product = tasks.app.tasks["verifier.verify_interval"]
    assert task.run.__module__ == "bench.robustness.worker"
    assert product.run.__module__ == "trainproof.verifier.tasks"
    assert "verifier.check_attestation" in worker.app.tasks  # shared: a malicious worker still checks honestly
