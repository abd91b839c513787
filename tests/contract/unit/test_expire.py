"""ExpireAssignment: past the deadline, re-assign the silent seats or give up as INCONCLUSIVE."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net, confirm_score_checks, evidence, replays

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}
DAY = 86400


@pytest.fixture(autouse=True)
def full_sub_quorum(net: Net) -> None:
    """These tests drive every seat of a sub-quorum; majority-first seating is test_replication.py's."""
    net.set_config({"replication": "full"})


@pytest.fixture
def assigned(net: Net, submitted) -> dict:
    out = net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    confirm_score_checks(net, out)
    return {"model_id": submitted["model_id"], "quorums": replays(out)}


def vote(net: Net, fp: str, mid: str, interval: int, verdict: str = "ACCEPT"):
    return net.call(BY_FP[fp], "SubmitVote", mid, str(interval), verdict, evidence())


def test_nothing_expires_before_the_deadline(net: Net, assigned):
    net.advance(DAY - 1)
    net.refuse(Cast.admin2, "ExpireAssignment", assigned["model_id"], status=409, match="deadline: no undecided interval")


def test_expiry_replaces_the_silent_verifiers_and_keeps_cast_votes(net: Net, assigned):
    mid, ((i1, q1), (i2, _)) = assigned["model_id"], sorted(assigned["quorums"].items())
    vote(net, q1[0], mid, i1)
    net.advance(DAY)
    out = net.call(Cast.org2_verifiers[0], "ExpireAssignment", mid)
    assert out["status"] == "ASSIGNED" and out["decided"] == []
    new = {a["interval"]: a for a in out["assignments"]}
    assert set(new) == {i1, i2}
    assert q1[0] in new[i1]["verifiers"] and len(new[i1]["verifiers"]) == 3
    assert not set(new[i1]["verifiers"]) & set(q1[1:])  # fresh verifiers were available
    assert all(a["round"] == 1 and a["deadline"] == net.ledger.clock + DAY for a in new.values())
    name, event = net.last_event()
    assert name == "IntervalsAssigned" and event["assignments"] == out["assignments"]

    # The replaced verifier is out; a newcomer's vote completes the majority with the kept vote.
    net.refuse(BY_FP[q1[1]], "SubmitVote", mid, str(i1), "ACCEPT", evidence(), status=403, match="not assigned")
    newcomer = next(fp for fp in new[i1]["verifiers"] if fp != q1[0])
    assert vote(net, newcomer, mid, i1)["decision"]["outcome"] == "ACCEPTED"

    history = net.call(Cast.client1, "GetAssignment", mid)
    rec = next(r for r in history["intervals"] if r["interval"] == i1)
    assert rec["previous_rounds"][0]["verifiers"] == q1 and rec["previous_rounds"][0]["missing"] == q1[1:]


def test_past_the_maximum_an_interval_is_inconclusive_and_so_is_the_model(net: Net, assigned):
    mid, ((i1, q1), (i2, _)) = assigned["model_id"], sorted(assigned["quorums"].items())
    vote(net, q1[0], mid, i1)
    vote(net, q1[1], mid, i1)  # interval i1 ACCEPTED; i2 never gets votes
    for expected_round in (1, 2):  # max_reassignments = 2
        net.advance(DAY)
        out = net.call(Cast.admin2, "ExpireAssignment", mid)
        assert [a["round"] for a in out["assignments"]] == [expected_round]
    net.advance(DAY)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    assert out["status"] == "INCONCLUSIVE" and out["assignments"] == []
    assert out["decided"][0]["interval"] == i2 and out["decided"][0]["outcome"] == "INCONCLUSIVE"
    name, event = net.last_event()
    assert name == "ModelVerdict" and event["status"] == "INCONCLUSIVE"
    assert event["outcomes"] == [{"interval": i, "outcome": "INCONCLUSIVE" if i == i2 else "ACCEPTED"} for i in range(10)]
    model = net.call(Cast.client1, "GetModel", mid)
    assert model["inconclusive_intervals"] == [i2] and "inconclusive" in model["reason"]
    decision = next(r for r in net.call(Cast.client1, "GetAssignment", mid)["intervals"] if r["interval"] == i2)["decision"]
    assert "after the last allowed re-assignment" in decision["reason"]
    net.refuse(Cast.admin2, "ExpireAssignment", mid, status=409, match="is INCONCLUSIVE")


def test_settings_changed_after_assignment_do_not_apply_to_it(net: Net, assigned):
    net.set_config({"max_reassignments": 1, "deadline_seconds": 60})
    net.advance(DAY - 60)
    net.refuse(Cast.admin2, "ExpireAssignment", assigned["model_id"], status=409, match="deadline")
    net.advance(60)
    out = net.call(Cast.admin2, "ExpireAssignment", assigned["model_id"])
    assert out["decided"] == [] and len(out["assignments"]) == 2  # still max 2 re-assignments
    assert all(a["deadline"] == net.ledger.clock + DAY for a in out["assignments"])


def test_one_interval_given_up_while_another_is_re_assigned(net: Net, submitted):
    """IntervalDecided carries both the give-up and the re-assignment; a later vote settles the
    model, whose verdict then counts the inconclusive interval."""
    for v in Cast.org1_verifiers:
        net.call(Cast.admin1, "SetVerifierStatus", v.fingerprint, "SUSPENDED")
    mid = submitted["model_id"]
    out = net.call(Cast.admin2, "AssignVerifiers", mid)  # 3 of the 4 Org2 verifiers per interval
    confirm_score_checks(net, out)
    (i1, (a, b, c)), (i2, _) = replays(out).items()
    (d,) = {v.fingerprint for v in Cast.org2_verifiers} - {a, b, c}
    vote(net, a, mid, i1, "ACCEPT")
    vote(net, b, mid, i1, "REJECT")
    for fp in (b, c):
        net.call(Cast.admin2, "SetVerifierStatus", fp, "SUSPENDED")
    net.advance(DAY)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)  # active now: a and d only
    assert out["status"] == "ASSIGNED"
    assert [(x["interval"], x["verifiers"]) for x in out["assignments"]] == [(i1, sorted([a, b, d]))]
    assert [(x["interval"], x["outcome"]) for x in out["decided"]] == [(i2, "INCONCLUSIVE")]
    name, event = net.last_event()
    assert name == "IntervalDecided" and event["assignments"] and event["decided"]
    assert vote(net, d, mid, i1, "ACCEPT")["model"]["status"] == "INCONCLUSIVE"
    assert net.last_event()[0] == "ModelVerdict"


def test_max_one_gives_up_at_the_second_deadline(net: Net, submitted):
    net.set_config({"max_reassignments": 1, "deadline_seconds": 60})
    mid = submitted["model_id"]
    out = net.call(Cast.admin2, "AssignVerifiers", mid)
    confirm_score_checks(net, out)
    (i1, q1) = next(iter(replays(out).items()))
    vote(net, q1[0], mid, i1, "REJECT")
    net.advance(60)
    assert net.call(Cast.admin2, "ExpireAssignment", mid)["status"] == "ASSIGNED"
    net.advance(60)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    assert out["status"] == "INCONCLUSIVE" and len(out["decided"]) == 2
    assert out["decided"][0]["tally"] == {"ACCEPT": 0, "REJECT": 1}


def test_with_no_fresh_verifier_the_silent_ones_get_another_round(net: Net, submitted):
    net.set_config({"sub_quorum_size": 5})
    mid = submitted["model_id"]
    first = net.call(Cast.admin2, "AssignVerifiers", mid)["intervals"][0]
    net.advance(DAY)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    again = out["assignments"][0]
    assert again["round"] == 1 and len(again["verifiers"]) == 5
    assert len(set(again["verifiers"]) & set(first["verifiers"])) >= 4  # one fresh verifier, not four


def test_too_few_active_verifiers_to_re_staff_is_inconclusive(net: Net, submitted):
    net.set_config({"sub_quorum_size": 5})
    mid = submitted["model_id"]
    net.call(Cast.admin2, "AssignVerifiers", mid)
    for v in Cast.org1_verifiers:
        net.call(Cast.admin1, "SetVerifierStatus", v.fingerprint, "SUSPENDED")
    net.advance(DAY)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    # Only four active verifiers remain for five seats.
    assert out["status"] == "INCONCLUSIVE"
    assert all("too few active verifiers" in d["reason"] for d in out["decided"])


@pytest.mark.parametrize("who, rule", [
    (Cast.client1, "neither an MSP admin nor an active registered verifier"),
    (Cast.admin1, "independence"),
])
def test_who_may_not_expire(net: Net, assigned, who, rule):
    net.advance(DAY)
    net.refuse(who, "ExpireAssignment", assigned["model_id"], status=403, match=rule)


def test_expiring_an_unassigned_model_is_refused(net: Net, submitted):
    net.refuse(Cast.admin2, "ExpireAssignment", submitted["model_id"], status=409, match="is SUBMITTED")


# --- transaction time must agree with the endorsing peer's clock -----------------------------

def test_expiry_stamped_past_the_deadline_ahead_of_the_peer_clock_is_refused(net: Net, assigned):
    """The attack the check exists for: the sender sets the transaction time, so without it an
    assigner could stamp each expiry past the deadline and reach INCONCLUSIVE in seconds."""
    mid = assigned["model_id"]
    before = net.call(Cast.client2, "GetAssignment", mid)
    net.refuse(Cast.admin2, "ExpireAssignment", mid, status=409, match="clock: transaction time",
               timestamp=net.ledger.clock + DAY + 1)
    net.advance(DAY - 250)  # the peer's clock: 250 s before the deadline, within the default ±300 s
    out = net.call(Cast.admin2, "ExpireAssignment", mid, timestamp=net.ledger.clock + 251)
    assert out["status"] == "ASSIGNED" and all(a["round"] == 1 for a in out["assignments"])
    assert before["intervals"] != net.call(Cast.client2, "GetAssignment", mid)["intervals"]


def test_assignment_stamped_in_the_past_is_refused(net: Net, submitted):
    """A past stamp would put the deadline behind the peers' clocks at once."""
    mid = submitted["model_id"]
    error = net.refuse(Cast.admin2, "AssignVerifiers", mid, status=409, match="(clock_skew_seconds)",
                       timestamp=net.ledger.clock - DAY)
    assert "-86400.0 s from this peer's clock" in error.message
    net.call(Cast.admin2, "AssignVerifiers", mid, timestamp=net.ledger.clock - 299)


def test_expiry_uses_the_skew_frozen_at_assignment(net: Net, submitted):
    net.set_config({"clock_skew_seconds": 10})
    mid = net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])["model_id"]
    net.set_config({"clock_skew_seconds": 3600})
    net.advance(DAY - 11)
    net.refuse(Cast.admin2, "ExpireAssignment", mid, status=409, match="at most ±10 s", timestamp=net.ledger.clock + 11)
    net.advance(2)
    assert net.call(Cast.admin2, "ExpireAssignment", mid, timestamp=net.ledger.clock + 9)["status"] == "ASSIGNED"
