"""SubmitVote: assigned verifiers only, once per interval, majority decides, verdict follows."""
from __future__ import annotations

import json

import pytest

from trainproof.chaincode.contract.router import handle
from tests.fakes.memory_ledger import MVCCReadConflict
from trainproof.chaincode.shim.stub import Creator
from tests.contract.factories import Cast, Net, confirm_score_checks, evidence, replays

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}


@pytest.fixture(autouse=True)
def full_sub_quorum(net: Net) -> None:
    """These tests drive every seat of a sub-quorum; majority-first seating is test_replication.py's."""
    net.set_config({"replication": "full"})


@pytest.fixture
def assigned(net: Net, submitted) -> dict:
    """The submitted model, assigned by Org2's admin: {interval: [verifier fingerprints]}."""
    out = net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    confirm_score_checks(net, out)
    return {"model_id": submitted["model_id"], "quorums": replays(out)}


def vote(net: Net, fp: str, model_id: str, interval: int, verdict: str = "ACCEPT", ev=None, **kw):
    return net.call(BY_FP[fp], "SubmitVote", model_id, str(interval), verdict, ev or evidence(), **kw)


def test_votes_from_the_assigned_verifiers_reach_verified(net: Net, assigned):
    mid, quorums = assigned["model_id"], assigned["quorums"]
    assert len(quorums) == 2  # ten smooth intervals: the audit sample alone (20 %)
    (first, q1), (second, q2) = sorted(quorums.items())

    out = vote(net, q1[0], mid, first)
    assert out["decision"] is None and out["model"]["status"] == "ASSIGNED"
    name, event = net.last_event()
    assert name == "VoteCast" and event["interval"] == first and event["tally"] == {"ACCEPT": 1, "REJECT": 0}
    assert event["needed"] == 2 and event["size"] == 3 and event["verifier"] == q1[0]

    out = vote(net, q1[1], mid, first)
    assert out["decision"]["outcome"] == "ACCEPTED"
    name, event = net.last_event()
    assert name == "IntervalDecided"
    assert event["decided"][0]["interval"] == first and event["decided"][0]["outcome"] == "ACCEPTED"
    # The other eight intervals' score checks were confirmed by the fixture.
    assert event["outcomes"] == [{"interval": i, "outcome": None if i == second else "ACCEPTED"} for i in range(10)]
    assert event["vote"]["verifier"] == q1[1]

    vote(net, q2[0], mid, second)
    out = vote(net, q2[2], mid, second)
    assert out["model"]["status"] == "VERIFIED"
    name, event = net.last_event()
    assert name == "ModelVerdict" and event["status"] == "VERIFIED" and event["model_id"] == mid
    assert [o["outcome"] for o in event["outcomes"]] == ["ACCEPTED"] * 10
    assert "2 selected interval(s) accepted" in event["reason"] and "the other 8 confirmed" in event["reason"]
    assert event["decided"][0]["interval"] == second and event["vote"]["verdict"] == "ACCEPT"
    model = net.call(Cast.client1, "GetModel", mid)
    assert model["status"] == "VERIFIED" and "accepted" in model["reason"]
    assert len(net.call(Cast.client1, "GetVotes", mid)["votes"]) == 4 + 2 * 8
    assert [v["verifier"]["fingerprint"] for v in net.call(Cast.client1, "GetVotes", mid, str(second))["votes"]] \
        == sorted([q2[0], q2[2]])


def test_a_rejecting_majority_rejects_the_model_at_once_and_keeps_the_reason(net: Net, assigned):
    mid, quorums = assigned["model_id"], assigned["quorums"]
    (first, q1), (second, q2) = sorted(quorums.items())
    vote(net, q2[0], mid, second, "REJECT", evidence("end snapshot differs", absolute=912.5))
    vote(net, q2[1], mid, second, "ACCEPT")
    out = vote(net, q2[2], mid, second, "REJECT", evidence("replay diverged at step 437"))
    assert out["decision"]["outcome"] == "REJECTED" and out["model"]["status"] == "REJECTED"
    name, event = net.last_event()
    assert name == "ModelVerdict" and event["status"] == "REJECTED"
    assert event["decided"][0]["tally"] == {"ACCEPT": 1, "REJECT": 2}
    model = net.call(Cast.client1, "GetModel", mid)
    assert model["rejected_intervals"] == [second]
    assert model["reason"].startswith(f"interval {second} rejected: sub-quorum majority: 2 of 3 verifiers voted REJECT")
    assert "end snapshot differs" in model["reason"] and "replay diverged at step 437" in model["reason"]
    # The verdict is final: the other interval takes no more votes.
    net.refuse(BY_FP[q1[0]], "SubmitVote", mid, str(first), "ACCEPT", evidence(), status=409, match="closed")


def test_a_vote_from_an_unassigned_verifier_is_refused(net: Net, assigned):
    mid, quorums = assigned["model_id"], assigned["quorums"]
    interval, quorum = sorted(quorums.items())[0]
    outsider = next(fp for fp in BY_FP if fp not in quorum)
    err = net.refuse(BY_FP[outsider], "SubmitVote", mid, str(interval), "ACCEPT", evidence(), status=403,
                     match=f"identity {outsider} is not assigned to interval {interval} of model {mid}")
    assert err.message.startswith("SubmitVote refused: assignment:")


def test_a_double_vote_is_refused(net: Net, assigned):
    mid, (interval, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    vote(net, quorum[0], mid, interval)
    net.refuse(BY_FP[quorum[0]], "SubmitVote", mid, str(interval), "REJECT", evidence(), status=409, match="double vote")


def test_no_votes_after_the_interval_is_decided(net: Net, assigned):
    mid, (interval, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    vote(net, quorum[0], mid, interval)
    vote(net, quorum[1], mid, interval)
    net.refuse(BY_FP[quorum[2]], "SubmitVote", mid, str(interval), "ACCEPT", evidence(), status=409,
               match="already ACCEPTED; no votes after a decision")


def test_identities_that_are_not_active_verifiers_cannot_vote(net: Net, assigned):
    mid, (interval, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    net.refuse(Cast.client2, "SubmitVote", mid, str(interval), "ACCEPT", evidence(), status=403,
               match="not a registered verifier")
    net.call(Cast.admin2, "SetVerifierStatus", quorum[0], "SUSPENDED")
    net.refuse(BY_FP[quorum[0]], "SubmitVote", mid, str(interval), "ACCEPT", evidence(), status=403, match="SUSPENDED")
    # The same certificate presented under another MSP is not the registered verifier.
    impostor = Cast.org2_verifiers[0].creator
    err = net.ledger.endorse(handle, Creator("Org1MSP", impostor.cert_pem), "SubmitVote",
                             [mid, str(interval), "ACCEPT", json.dumps(evidence())])
    assert err.error is not None and "is registered for Org2MSP, not Org1MSP" in err.error.message


@pytest.mark.parametrize("interval_arg, verdict, ev, rule", [
    ("99", "ACCEPT", evidence(), "has no verifiers seated"),
    ("-1", "ACCEPT", evidence(), "interval"),
    (None, "MAYBE", evidence(), "not ACCEPT or REJECT"),
    (None, "ACCEPT", {"distances": {"l2": 0.1}}, "'replay_sha256' is a required property"),
    (None, "ACCEPT", {**evidence(), "replay_sha256": "xyz"}, "at /replay_sha256"),
    (None, "ACCEPT", {**evidence(), "distances": {}}, "at /distances"),
    (None, "ACCEPT", {**evidence(), "distances": {"l2": -1}}, "at /distances/l2"),
    (None, "ACCEPT", "not json", "evidence is not valid JSON"),
])
def test_malformed_votes_are_refused(net: Net, assigned, interval_arg, verdict, ev, rule):
    mid, (interval, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    net.refuse(BY_FP[quorum[0]], "SubmitVote", mid, interval_arg or str(interval), verdict, ev, match=rule)


def test_votes_before_assignment_are_refused(net: Net, submitted):
    net.refuse(Cast.org2_verifiers[0], "SubmitVote", submitted["model_id"], "0", "ACCEPT", evidence(), status=409,
               match="is SUBMITTED; votes are taken only while it is ASSIGNED")


# --- concurrency: one key per vote, decisions by reading the other vote keys -------------------

def endorse_vote(net: Net, fp: str, mid: str, interval: int, verdict: str = "ACCEPT"):
    return net.ledger.endorse(handle, BY_FP[fp].creator, "SubmitVote", [mid, str(interval), verdict, json.dumps(evidence())])


def test_concurrent_votes_on_one_interval_conflict_and_the_retry_decides(net: Net, assigned):
    mid, (interval, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    a, b = endorse_vote(net, quorum[0], mid, interval), endorse_vote(net, quorum[1], mid, interval)
    assert a.error is None and b.error is None  # both endorsed against the same committed state
    net.ledger.commit(a)
    with pytest.raises(MVCCReadConflict):
        net.ledger.commit(b)  # b read quorum[0]'s (then absent) vote key
    out = vote(net, quorum[1], mid, interval)  # the client retries
    assert out["decision"]["outcome"] == "ACCEPTED"


def test_concurrent_votes_on_different_intervals_do_not_conflict(net: Net, assigned):
    mid, ((i1, q1), (i2, q2)) = assigned["model_id"], sorted(assigned["quorums"].items())
    a, b = endorse_vote(net, q1[0], mid, i1), endorse_vote(net, q2[0], mid, i2)
    net.ledger.commit(a)
    net.ledger.commit(b)
    assert sum(v["interval"] in (i1, i2) for v in net.call(Cast.client1, "GetVotes", mid)["votes"]) == 2


def test_concurrent_deciding_votes_cannot_both_miss_the_verdict(net: Net, assigned):
    """Each settles its own interval; the second read the first's decision key, so it must be
    retried — and the retry sees both decisions and settles the model."""
    mid, ((i1, q1), (i2, q2)) = assigned["model_id"], sorted(assigned["quorums"].items())
    vote(net, q1[0], mid, i1)
    vote(net, q2[0], mid, i2)
    a, b = endorse_vote(net, q1[1], mid, i1), endorse_vote(net, q2[1], mid, i2)
    net.ledger.commit(a)
    assert net.last_event()[0] == "IntervalDecided"
    with pytest.raises(MVCCReadConflict):
        net.ledger.commit(b)
    assert vote(net, q2[1], mid, i2)["model"]["status"] == "VERIFIED"


# --- a vote its own evidence contradicts is refused ------------------------------------------

def end_sha(net: Net, mid: str, interval: int) -> str:
    snapshots = net.call(Cast.client1, "GetModel", mid)["certificate"]["snapshots"]
    return next(s["sha256"] for s in snapshots if s["index"] == interval + 1)


@pytest.mark.parametrize("verdict, change, rule", [
    ("REJECT", {"scores_match": True}, "a REJECT must show a difference"),
    ("REJECT", {}, "a REJECT must show a difference"),  # scores_match absent: nothing says they differ
    ("ACCEPT", {"scores_match": False}, "an ACCEPT cannot carry scores_match false"),
    ("ACCEPT", {"replay_sha256": "0" * 64}, "an ACCEPT needs a replay"),
])
def test_vote_contradicted_by_its_evidence_is_refused(net: Net, assigned, verdict, change, rule):
    mid, (i, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    ev = {k: v for k, v in evidence().items() if k != "scores_match"}
    ev = {**ev, "replay_sha256": end_sha(net, mid, i), **change}
    net.refuse(BY_FP[quorum[0]], "SubmitVote", mid, str(i), verdict, ev, status=400, match=f"evidence: {rule}")


def test_votes_consistent_with_their_evidence_are_taken(net: Net, assigned):
    """A bit-identical replay may ACCEPT; REJECT is fine once the replay or the scores differ."""
    mid, (i, quorum) = assigned["model_id"], sorted(assigned["quorums"].items())[0]
    same = end_sha(net, mid, i)
    vote(net, quorum[0], mid, i, "ACCEPT", {**evidence(), "replay_sha256": same})
    vote(net, quorum[1], mid, i, "REJECT", {**evidence(), "replay_sha256": same, "scores_match": False})
    out = vote(net, quorum[2], mid, i, "REJECT", {**evidence("replay differs"), "replay_sha256": "ab" * 32})
    assert out["decision"]["outcome"] == "REJECTED"
