"""Majority-first replication: a bare majority of each sub-quorum replays first; a disagreement
seats the rest, drawn from the seed, and the full sub-quorum's majority decides."""
from __future__ import annotations

import pytest

from trainproof.chaincode.contract import assignment, replication
from tests.contract.factories import Cast, Net, evidence, model_payload

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}
DAY = 86400


def assign(net: Net, mid: str) -> dict[int, dict]:
    out = net.call(Cast.admin2, "AssignVerifiers", mid)
    return {r["interval"]: r for r in out["intervals"]}


def vote(net: Net, fp: str, mid: str, interval: int, verdict: str = "ACCEPT", **kw) -> dict:
    ev = evidence() if verdict == "ACCEPT" else evidence("end snapshot differs", absolute=3.5)
    return net.call(BY_FP[fp], "SubmitVote", mid, str(interval), verdict, ev, **kw)


@pytest.fixture
def seated(net: Net, submitted) -> tuple[str, dict[int, dict]]:
    return submitted["model_id"], assign(net, submitted["model_id"])


def test_each_interval_starts_with_a_bare_majority_of_its_sub_quorum(net: Net, seated):
    mid, records = seated
    assert records and all(r["size"] == 3 and len(r["verifiers"]) == 2 and r["escalated"] is None
                           for r in records.values())
    name, event = net.last_event()
    assert name == "IntervalsAssigned"
    assert all(a["size"] == 3 and len(a["verifiers"]) == 2 for a in event["assignments"])
    # Seats go to other orgs than the submitter's (Org1) while they have enough verifiers.
    assert all(BY_FP[fp].mspid == "Org2MSP" for r in records.values() for fp in r["verifiers"])


def test_agreeing_first_members_decide_without_the_third(net: Net, seated):
    mid, records = seated
    for interval, rec in sorted(records.items()):
        vote(net, rec["verifiers"][0], mid, interval)
        out = vote(net, rec["verifiers"][1], mid, interval)
        assert out["decision"]["outcome"] == "ACCEPTED"
        assert (out["decision"]["size"], out["decision"]["needed"]) == (3, 2)
    assert net.call(Cast.client1, "GetModel", mid)["status"] == "VERIFIED"
    assert len(net.call(Cast.client1, "GetVotes", mid)["votes"]) == 2 * len(records)


def test_agreeing_rejects_reject_without_the_third(net: Net, seated):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    vote(net, rec["verifiers"][0], mid, interval, "REJECT")
    out = vote(net, rec["verifiers"][1], mid, interval, "REJECT")
    assert out["decision"]["outcome"] == "REJECTED" and out["model"]["status"] == "REJECTED"
    assert "2 of 3 verifiers voted REJECT" in out["model"]["reason"]


@pytest.mark.parametrize("third", ["ACCEPT", "REJECT"])
def test_a_disagreement_seats_a_third_member_whose_vote_decides(net: Net, seated, third):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    first, second = rec["verifiers"]
    assert vote(net, first, mid, interval, "ACCEPT")["decision"] is None
    net.advance(60)
    out = vote(net, second, mid, interval, "REJECT")
    assert out["decision"] is None
    added = out["escalated"]["escalated"]["added"]
    assert len(added) == 1 and added[0] not in (first, second)
    name, event = net.last_event()
    assert name == "IntervalEscalated" and event["vote"]["verdict"] == "REJECT"
    (escalation,) = event["escalations"]
    assert escalation["added"] == added and sorted(escalation["verifiers"]) == sorted([first, second, *added])
    assert escalation["deadline"] == net.ledger.clock + DAY  # the new member gets a full deadline

    record = next(r for r in net.call(Cast.client1, "GetAssignment", mid)["intervals"] if r["interval"] == interval)
    assert record["escalated"]["by"] == second and record["escalated"]["open_seats"] == 0
    assert len(record["votes"]) == 2 and record["decision"] is None

    out = vote(net, added[0], mid, interval, third)
    expected = "ACCEPTED" if third == "ACCEPT" else "REJECTED"
    assert out["decision"]["outcome"] == expected and out["decision"]["tally"][third] == 2


def test_the_escalating_voter_chooses_nobody():
    """The same disagreement, cast in the other order by the other member, seats the same third."""
    payload = model_payload()
    added = []
    for order in ((0, "ACCEPT", 1, "REJECT"), (1, "ACCEPT", 0, "REJECT")):
        net = Net()
        net.register_verifiers()
        net.call(Cast.client1, "SubmitModel", payload)
        mid = payload["model_id"]
        interval, rec = sorted(assign(net, mid).items())[0]
        vote(net, rec["verifiers"][order[0]], mid, interval, order[1])
        added.append(vote(net, rec["verifiers"][order[2]], mid, interval, order[3])["escalated"]["escalated"]["added"])
    assert added[0] == added[1]


def test_the_third_is_drawn_from_the_seed(net: Net, seated):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    seed = net.call(Cast.client1, "GetAssignment", mid)["seed"]
    state = net.call(Cast.client1, "GetModel", mid)
    pool = sorted((v for v in net.call(Cast.client1, "ListVerifiers")["verifiers"]
                   if v["status"] == "ACTIVE" and v["fingerprint"] not in rec["verifiers"]),
                  key=lambda v: v["fingerprint"])
    expected = assignment.pick(replication.escalation_stream(seed, interval, 0), pool, 1, state["submitter"]["mspid"])
    vote(net, rec["verifiers"][0], mid, interval, "REJECT")
    out = vote(net, rec["verifiers"][1], mid, interval, "ACCEPT")
    assert out["escalated"]["escalated"]["added"] == expected


def test_with_nobody_left_to_seat_a_disagreement_is_inconclusive(net: Net, seated):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    for fp in BY_FP:
        if fp not in rec["verifiers"]:
            admin = Cast.admin1 if BY_FP[fp].mspid == "Org1MSP" else Cast.admin2
            net.call(admin, "SetVerifierStatus", fp, "SUSPENDED")
    vote(net, rec["verifiers"][0], mid, interval, "ACCEPT")
    out = vote(net, rec["verifiers"][1], mid, interval, "REJECT")
    assert out["decision"]["outcome"] == "INCONCLUSIVE"
    assert "disagree and no other active verifier is eligible" in out["decision"]["reason"]


def test_an_escalating_vote_stamped_far_from_the_peer_clock_is_refused(net: Net, seated):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    vote(net, rec["verifiers"][0], mid, interval, "ACCEPT")
    net.refuse(BY_FP[rec["verifiers"][1]], "SubmitVote", mid, str(interval), "REJECT",
               evidence("end snapshot differs", absolute=3.5), status=409, match="clock: transaction time",
               timestamp=net.ledger.clock - DAY)
    # The same vote, stamped honestly, escalates.
    assert vote(net, rec["verifiers"][1], mid, interval, "REJECT")["escalated"] is not None


def test_expiry_re_staffs_a_silent_escalated_member_and_keeps_the_votes(net: Net, seated):
    mid, records = seated
    interval, rec = sorted(records.items())[0]
    vote(net, rec["verifiers"][0], mid, interval, "ACCEPT")
    added = vote(net, rec["verifiers"][1], mid, interval, "REJECT")["escalated"]["escalated"]["added"]
    net.advance(DAY + 1)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    (again,) = [a for a in out["assignments"] if a["interval"] == interval]
    assert again["round"] == 1 and again["size"] == 3 and added[0] not in again["verifiers"]
    assert set(rec["verifiers"]) <= set(again["verifiers"]) and len(again["verifiers"]) == 3


def test_full_replication_seats_every_member_at_once(net: Net, submitted):
    net.set_config({"replication": "full"})
    records = assign(net, submitted["model_id"])
    assert all(len(r["verifiers"]) == r["size"] == 3 for r in records.values())


def test_an_unknown_replication_mode_is_refused(net: Net):
    net.refuse(Cast.admin1, "ProposeConfig", {"replication": "optimistic"}, match="'majority-first' or 'full'")


@pytest.mark.parametrize("size, seats", [(3, 2), (5, 3), (7, 4)])
def test_first_seats_are_a_bare_majority(size, seats):
    assert replication.first_seats({"sub_quorum_size": size, "replication": "majority-first"}) == seats
    assert replication.first_seats({"sub_quorum_size": size, "replication": "full"}) == size


def test_deadlock_needs_a_disagreement_no_seated_vote_can_resolve():
    rec = {"size": 5, "verifiers": ["a", "b", "c"]}
    assert not replication.deadlocked(rec, ["ACCEPT"])  # two more ACCEPTs still reach 3 of 5
    assert not replication.deadlocked(rec, ["ACCEPT", "ACCEPT"])
    assert replication.deadlocked(rec, ["ACCEPT", "REJECT"])  # at most 2 of 5 either way
    assert not replication.deadlocked({"size": 3, "verifiers": ["a", "b", "c"]}, ["ACCEPT", "REJECT"])  # all seated
