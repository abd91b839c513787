"""verify_interval's triage of ledger failures, on fakes (no broker, no network, no replay)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainproof.gateway import CommitError, EndorseError, ErrorDetail, SubmitError
from trainproof.verifier import tasks
from trainproof.verifier.artifacts import ArtifactCache
from trainproof.verifier.settings import WorkerIdentity
from trainproof.verifier.verification import Finding

pytestmark = pytest.mark.unit

FP = "ab" * 32
IDENTITY = WorkerIdentity("org2-verifier3", "org2", FP, Path("/nonexistent"))


class Retried(Exception):
    """Stands for Celery's Retry: the task asked to run again."""

    def __init__(self, exc: BaseException, countdown: float | None) -> None:
        super().__init__(str(exc))
        self.exc, self.countdown = exc, countdown


class FakeGatewayContract:
    """Answers the task's reads; SubmitVote fails with the scripted errors, then commits."""

    def __init__(self, vote_failures: list[Exception]) -> None:
        self.vote_failures, self.votes, self.evidence = list(vote_failures), 0, None

    def evaluate(self, function, args=()):
        answers = {
            "GetVotes": b'{"model_id": "m", "votes": []}',
            "GetAssignment": f'{{"intervals": [{{"interval": 2, "decision": null, "verifiers": ["{FP}"]}}]}}'.encode(),
            "GetModel": b'{"status": "ASSIGNED", "certificate": {"snapshots": [{"index": 3, "sha256": "e"}]}}',
        }
        return answers[function]

    def submit(self, function, args=()):
        assert function == "SubmitVote"
        if self.vote_failures:
            raise self.vote_failures.pop(0)
        self.votes += 1
        self.evidence = json.loads(args[3])
        return b'{"vote": {}, "decision": null, "model": {}}'


@pytest.fixture
def run(monkeypatch, tmp_path):
    """Run the task body once with a fake ledger; returns its result or raises Retried. The stand-in
    verification "downloads" 4096 bytes into a cache that had fetched 1000 before the task."""
    def verification(certificate, interval, store, cache, **kwargs):
        cache.downloaded += 4096
        return Finding("ACCEPT", "replay matches", {"replay_sha256": "e"})

    def go(failures: list[Exception]):
        fake = FakeGatewayContract(failures)
        cache = ArtifactCache(None, tmp_path / "cache")
        cache.downloaded = 1000
        monkeypatch.setattr(tasks, "worker_identity", lambda: IDENTITY)
        monkeypatch.setattr(tasks, "resources", lambda: tasks.Resources(tasks.TrainproofContract(fake), None, cache, None))
        monkeypatch.setattr(tasks, "run_verification", verification)
        monkeypatch.setattr(tasks.verify_interval, "retry",
                            lambda exc=None, countdown=None, **kw: (_ for _ in ()).throw(Retried(exc, countdown)))
        return tasks.verify_interval.run("m", 2, FP), fake
    return go


def endorse_failure(status: int | None, message: str) -> EndorseError:
    return EndorseError("SubmitVote was not endorsed", [ErrorDetail("peer0.org1", message, status)])


def test_a_clean_vote(run):
    result, fake = run([])
    assert result["status"] == "voted" and result["verdict"] == "ACCEPT" and fake.votes == 1
    assert fake.evidence["downloaded"] == 4096  # this task's fetches, not the cache's lifetime total


@pytest.mark.parametrize("failure", [
    endorse_failure(500, "error in simulation: could not launch chaincode trainproof_1.0:ab: connection refused"),
    endorse_failure(None, "UNAVAILABLE: failed to connect to all addresses"),
    SubmitError("no orderer accepted the transaction", []),
])
def test_transient_failures_are_retried_with_backoff(run, failure):
    with pytest.raises(Retried) as retried:
        run([failure])
    assert isinstance(retried.value.exc, tasks.Transient) and retried.value.countdown is not None


def test_a_read_conflict_is_retried_soon(run):
    with pytest.raises(Retried) as retried:
        run([CommitError("SubmitVote committed as invalid", "t", "MVCC_READ_CONFLICT", 9)])
    assert 0.5 <= retried.value.countdown <= 3.0


@pytest.mark.parametrize("status, message", [
    (403, "SubmitVote refused: assignment: not assigned to interval 2"),
    (404, "SubmitVote refused: unknown model: m"),
    (409, "SubmitVote refused: double vote: already voted on interval 2"),
    (400, "SubmitVote refused: evidence: an ACCEPT needs a replay"),
])
def test_the_contracts_refusals_end_the_task(run, status, message):
    result, fake = run([endorse_failure(status, message)])
    assert result == {"model_id": "m", "interval": 2, "verifier": IDENTITY.name, "kind": "replay",
                      "status": "refused", "reason": message}
    assert fake.votes == 0


def test_another_invalid_commit_fails_the_task(run):
    with pytest.raises(tasks.ContractError) as failed:
        run([CommitError("SubmitVote committed as invalid", "t", "ENDORSEMENT_POLICY_FAILURE", 9)])
    assert isinstance(failed.value.__cause__, CommitError)
