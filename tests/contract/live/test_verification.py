"""Assignment, votes, verdicts and expiry on the live network.

Who else acts on these models, and when (verifier/dispatcher.py, verifier/tasks.py):

* The dispatcher follows ModelSubmitted and sends AssignVerifiers from an admin of another org
  than the submitter's, about 0.2 s after the submission commits. An AssignVerifiers of ours
  sent right after SubmitModel usually loses that race (refused "once per model", or committed
  as MVCC_READ_CONFLICT), so the tests accept whichever assignment won and check it.
* For every IntervalsAssigned it enqueues one task per member of each sub-quorum; each worker
  acts for exactly the verifier identity it is named after, and before doing any work checks the
  ledger (already voted? still assigned? decided?). Then it downloads its interval's two
  snapshots and checks the claimed scores; on a score check (an unselected interval) it votes
  then, within seconds; on a selected interval it replays the interval first. For artifacts that are not in MinIO it votes
  REJECT within a second or two. For a real run the vote comes only after the replay: ~3 ms of
  CPU a step, and three members replay at once on this two-core machine (under load, up to
  ~80 ms a step of wall time were measured).

How each path is made deterministic anyway:

1. The workers' own verdicts are shown end to end on real, tiny recorded runs: an honest run is
   VERIFIED and a poisoned one REJECTED by the assigned workers alone
   (``test_workers_verify_an_honest_run_and_reject_a_poisoned_one``). While the robustness
   benchmark runs some workers as deliberate adversaries, a wrong verdict reached with one of
   them in the sub-quorum is a skip, not a failure.
2. Assignment rules whose answer does not depend on timing (the seed and the draw, sub-quorum
   composition, who may assign, once per model) are checked on models with fake artifacts.
3. Paths where the test must cast the votes itself (split majorities reaching VERIFIED and
   REJECTED, the double vote, the unassigned voter, a vote on an unselected interval, expiry)
   use a real, honest run of two intervals of ``SLOW_STEPS`` steps. With two intervals exactly
   one is selected (fewer than three scores: no outliers; audit sample ⌈0.2·2⌉ = 1); the test
   confirms the other one's score check itself, as its two seats. The selected interval's
   two seated workers replay for several seconds before they can vote (a dissenting vote seats
   the third member, whose worker starts then and replays as long). The profile holds the
   verifiers' keys, so the test votes with the assigned identities in that window; a worker
   that finishes later finds the interval decided or the model closed, its vote is refused, and
   it stops. Every such test first asserts that no vote is on the ledger yet and says so
   plainly if the window ever closes too early (then raise ``SLOW_STEPS`` in conftest.py).
4. Expiry needs a deadline that has passed. The transaction time is the client's, but every
   endorsing peer refuses ExpireAssignment/AssignVerifiers stamped more than clock_skew_seconds
   (300 s) from its own clock, so the test gives its model a SHORT_DEADLINE: a settings change
   (proposed by Org1's admin, approved by Org2's) just before the submission, restored as soon as the model is assigned (a second or two; a model
   another process submits in that window also gets the short deadline, and at worst is
   re-staffed after it), and stamps each expiry just past the current deadline, inside the skew.
   Changing settings is exercised with a change no selection can notice (a 10^-9 nudge of k).
"""
from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import pytest

from trainproof.chaincode.contract.replication import first_seats
from trainproof.chaincode.contract.prng import HashStream
from trainproof.chaincode.contract.selection import claims, select, settings
from trainproof.gateway import EndorseError
from tests.contract.factories import attestation_request, decaying_scores
from tests.contract.live.conftest import SLOW_STEPS, UNKNOWN_MODEL, Live, fake_payload

pytestmark = pytest.mark.contract
SHORT_DEADLINE = 60  # s; (max_reassignments + 1) rounds of stamps must stay inside the peers' clock skew


def evidence(reason: str, **distances: float) -> dict[str, Any]:
    return {"distances": distances or {"l2": 0.0}, "replay_sha256": hashlib.sha256(reason.encode()).hexdigest(),
            "scores_match": True, "reason": reason}


def registry(live: Live) -> dict[str, dict]:
    return {v["fingerprint"]: v for v in live.query("ListVerifiers")["verifiers"]}


def check_assignment(live: Live, assignment: dict[str, Any], certificate: dict[str, Any], submitter: str) -> None:
    """Everything an assignment record promises, recomputed from public data."""
    assigner = assignment["assigner"]
    # the seed: a hash of the member orgs' reveals, each opening its commitment (issue 15, finding 5:
    # this replaced a check that it was SHA-256(assign tx id ‖ assigner), the grindable hole itself)
    rnd = live.query("GetSeedRound", assignment["model_id"])
    for msp, secret in assignment["seed_round"]["reveals"].items():
        assert hashlib.sha256(bytes.fromhex(secret)).hexdigest() == rnd["commitments"][msp]["commitment"]
        assert rnd["reveals"][msp]["timestamp"] >= rnd["closed_at"]
    parts = ["trainproof/assign/v2", assignment["model_id"]] + [
        f"{msp}\x00{secret}" for msp, secret in sorted(assignment["seed_round"]["reveals"].items())]
    assert assignment["seed"] == hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    assert assigner["fingerprint"] != live.fingerprint(submitter)
    assert assigner["mspid"] != live.mspid(submitter), "the submitter's org assigned while another org has verifiers"
    assert assigner["role"] in ("admin", "verifier")

    cfg = assignment["config"]
    scores = certificate["scores"]
    # the draw follows from the seed alone: every peer (and we) derive the same selection
    assert assignment["selected"] == select(audit_fraction=cfg["audit_fraction"],
                                            stream=HashStream(bytes.fromhex(assignment["seed"]), "audit"),
                                            **claims(certificate), **settings(cfg))
    audit = [e for e in assignment["selected"] if "audit" in e["reasons"]]
    assert len(audit) == min(max(1, math.ceil(round(cfg["audit_fraction"] * len(scores), 9))),
                             len(scores) - (len(assignment["selected"]) - len(audit)))

    verifiers = registry(live)
    by_interval = {rec["interval"]: rec for rec in assignment["intervals"]}
    # Every interval is seated: the selected ones to be replayed, the others to have their scores checked.
    assert sorted(by_interval) == list(range(len(scores)))
    assert [i for i, rec in sorted(by_interval.items()) if rec["kind"] == "replay"] == \
        [e["interval"] for e in assignment["selected"]]
    reasons = {e["interval"]: e["reasons"] for e in assignment["selected"]}
    for rec in by_interval.values():
        assert rec["reasons"] == reasons.get(rec["interval"], []) and rec["round"] == 0 and rec["previous_rounds"] == []
        # A bare majority seated first (majority-first), the rest only once a disagreement escalated.
        seated = first_seats(cfg) if rec["escalated"] is None else rec["size"] - rec["escalated"]["open_seats"]
        assert rec["size"] == cfg["sub_quorum_size"] and len(rec["verifiers"]) == seated == len(set(rec["verifiers"]))
        assert rec["verifiers"] == sorted(rec["verifiers"])
        assert live.fingerprint(submitter) not in rec["verifiers"]
        for fp in rec["verifiers"]:
            assert fp in verifiers, f"{fp} is not a registered verifier"
            if assignment["submitter_org_excluded"]:
                assert verifiers[fp]["mspid"] != live.mspid(submitter)
        assert rec["deadline"] == rec["assigned_at"] + cfg["deadline_seconds"]
        assert rec["assigned_tx"] == assignment["tx_id"] and rec["assigned_at"] == assignment["timestamp"]


def replayed(assignment: dict[str, Any]) -> list[dict[str, Any]]:
    """The interval records of an assignment that are replayed (kind "replay")."""
    return [rec for rec in assignment["intervals"] if rec["kind"] == "replay"]


def record_of(assignment: dict[str, Any], interval: int) -> dict[str, Any]:
    return next(rec for rec in assignment["intervals"] if rec["interval"] == interval)


# --- assignment ---------------------------------------------------------------------------------

def test_assignment_draw_and_who_may_assign(live, events):
    scores = decaying_scores(10)
    scores[6] *= 25  # a spike: the outlier rule must pick interval 6, whatever the seed
    payload = fake_payload("assign", scores=scores)
    mid = payload["model_id"]
    live.submit_model(payload)
    assignment, _ = live.assign(mid, "org2-admin")

    check_assignment(live, assignment, payload, "org1-user1")
    selected = {e["interval"]: e for e in assignment["selected"]}
    assert "detrended-mad" in selected[6]["reasons"]
    assert selected[6]["residual"] > selected[6]["threshold"]
    assert assignment["submitter_org_excluded"] is True  # Org2 has three active verifiers
    state = live.model(mid)
    assert state["status"] != "SUBMITTED" and state["selected"] == sorted(selected)

    event = events.for_tx(assignment["tx_id"])
    assert event.name == "IntervalsAssigned"
    assert event.payload["seed"] == assignment["seed"] and event.payload["assigner"] == assignment["assigner"]
    assert [a["interval"] for a in event.payload["assignments"] if a["kind"] == "replay"] == sorted(selected)
    assert [a["interval"] for a in event.payload["assignments"] if a["kind"] == "scores"] == \
        [i for i in range(10) if i not in selected]
    assert all(a["verifiers"] == next(r["verifiers"] for r in assignment["intervals"] if r["interval"] == a["interval"])
               for a in event.payload["assignments"])

    # Who may not assign, and once per model. The contract checks the caller before the state,
    # so these answers are the same whether or not the workers have decided the model by now.
    live.refuse("org1-user1", "AssignVerifiers", mid, status=403, match="neither an MSP admin nor an active")
    live.refuse("org2-user1", "AssignVerifiers", mid, status=403, match="neither an MSP admin nor an active")
    live.refuse("org1-admin", "AssignVerifiers", mid, status=403, match="independence: caller's org Org1MSP")
    live.refuse("org1-verifier1", "AssignVerifiers", mid, status=403, match="is the submitter's org")
    live.refuse("org2-admin", "AssignVerifiers", mid, status=409, match="once per model")
    live.refuse("org2-verifier2", "AssignVerifiers", mid, status=409, match="once per model")
    live.refuse("org2-admin", "AssignVerifiers", UNKNOWN_MODEL, status=404, match="unknown model")
    live.refuse("org2-admin", "AssignVerifiers", mid.upper(), status=400, match="model id")
    live.refuse("org2-admin", "AssignVerifiers", status=400, match="arguments")
    assert live.assignment(mid)["seed"] == assignment["seed"]  # the first draw stands


def test_the_submitter_never_assigns_its_own_model(live):
    """A verifier identity is also a client: it may submit, and then may not draw for itself."""
    payload = fake_payload("self-assign", intervals=4, scores=decaying_scores(4))
    live.submit_model(payload, who="org2-verifier1")
    live.refuse("org2-verifier1", "AssignVerifiers", payload["model_id"], status=403,
                match=f"independence: caller {live.fingerprint('org2-verifier1')} submitted model")
    assignment, _ = live.assign(payload["model_id"], "org1-admin")
    check_assignment(live, assignment, payload, "org2-verifier1")
    for rec in assignment["intervals"]:
        assert live.fingerprint("org2-verifier1") not in rec["verifiers"]


# --- the workers' verdicts, end to end ----------------------------------------------------------

def test_workers_verify_an_honest_run_and_reject_a_poisoned_one(live, runs, events):
    honest, poisoned = runs("honest").certificate("e2e-honest"), runs("poisoned").certificate("e2e-poisoned")
    live.submit_model(honest)
    live.submit_model(poisoned, who="org2-user1")

    for cert, submitter, verdict, outcome in ((honest, "org1-user1", "VERIFIED", "ACCEPTED"),
                                              (poisoned, "org2-user1", "REJECTED", "REJECTED")):
        mid = cert["model_id"]
        state = live.wait_final(mid, timeout=180)
        assignment = live.assignment(mid)
        members = {live.name_of(fp) for rec in assignment["intervals"] for fp in rec["verifiers"]}
        if state["status"] != verdict and members & live.adversarial_workers():
            pytest.skip(f"the robustness benchmark runs malicious workers ({sorted(members & live.adversarial_workers())}"
                        f") and they decided {mid}: {state['status']}")
        assert state["status"] == verdict, state
        check_assignment(live, assignment, cert, submitter)
        decided = [rec for rec in assignment["intervals"] if rec["decision"]]
        if verdict == "VERIFIED":
            assert len(decided) == len(assignment["intervals"])
        else:  # one rejected interval settles the model; the others may still be open
            decided = [rec for rec in decided if rec["interval"] in state["rejected_intervals"]]
        assert decided and all(rec["decision"]["outcome"] == outcome for rec in decided)
        side = "ACCEPT" if outcome == "ACCEPTED" else "REJECT"
        for rec in decided:
            d = rec["decision"]
            assert d["tally"][side] >= d["needed"] == rec["size"] // 2 + 1
            assert set(d["votes"]) <= set(rec["verifiers"])
        for vote in live.query("GetVotes", mid)["votes"]:  # only assigned members ever got a vote in
            rec = next(r for r in assignment["intervals"] if r["interval"] == vote["interval"])
            assert vote["verifier"]["fingerprint"] in rec["verifiers"]
        if verdict == "REJECTED":
            assert state["rejected_intervals"] and state["reason"].startswith("interval "), state["reason"]
        verdict_event = events.wait(lambda e: e.name == "ModelVerdict" and e.payload.get("model_id") == mid)
        assert verdict_event.payload["status"] == verdict


# --- votes the test casts itself ----------------------------------------------------------------

def slow_model(live: Live, runs, label: str, submitter: str, assigner: str) -> tuple[dict, dict, dict]:
    """A real honest run of two long intervals, submitted and assigned: (certificate, assignment,
    the one selected interval's record), the other interval's score check already confirmed."""
    cert = runs("slow").certificate(label)
    live.submit_model(cert, who=submitter)
    assignment, _ = live.assign(cert["model_id"], assigner)
    (rec,) = replayed(assignment)
    foreign = [fp for fp in rec["verifiers"] if live.name_of(fp) is None]
    assert not foreign, f"verifiers outside the profile were drawn (registered by another test?): {foreign}"
    confirm_score_check(live, assignment)
    return cert, assignment, rec


def confirm_score_check(live: Live, assignment: dict[str, Any]) -> None:
    """The unselected interval's score check, ACCEPTed by its two seats (the run is honest), so
    that the test's own votes on the replayed interval decide the model. The test votes as those
    seats rather than awaiting their workers, whose check would eat into the slow replay's lead;
    a seat whose worker voted first is left as it is (its vote is the same ACCEPT)."""
    (check,) = (r for r in assignment["intervals"] if r["kind"] == "scores")
    ballot = {**evidence("score check: the claimed scores match the snapshots"), "replay_sha256": "0" * 64,
              "details": {"mode": "scores"}}
    for fp in check["verifiers"]:
        try:
            live.submit_tx(live.name_of(fp), "SubmitVote", assignment["model_id"], str(check["interval"]), "ACCEPT",
                           ballot)
        except EndorseError as exc:
            if "double vote" not in str(exc) and "decided:" not in str(exc):
                raise
    assert record_of(live.assignment(assignment["model_id"]), check["interval"])["decision"]["outcome"] == "ACCEPTED"


def assert_no_vote_yet(live: Live, model_id: str) -> None:
    """No vote yet on the replayed interval (the score check is confirmed already)."""
    selected = set(live.model(model_id)["selected"])
    votes = [v for v in live.query("GetVotes", model_id)["votes"] if v["interval"] in selected]
    assert not votes, (f"a verifier worker voted before the test could ({[v['verifier']['name'] for v in votes]}): "
                       f"the replay of {SLOW_STEPS} steps was too quick on this machine; raise SLOW_STEPS")


def vote(live: Live, who: str, model_id: str, interval: int, verdict: str, reason: str) -> tuple[dict, str]:
    return live.submit_tx(who, "SubmitVote", model_id, str(interval), verdict, evidence(reason), attempts=1)


def seated_by_escalation(live: Live, events, tx: str, result: dict, rec: dict) -> str:
    """The member a disagreeing vote seated (majority-first replication): its name, after checking
    that the vote's event and the interval record on the ledger both say so."""
    escalated = events.for_tx(tx)
    assert escalated.name == "IntervalEscalated", escalated.name
    (seat,) = escalated.payload["escalations"]
    (added,) = seat["added"]
    assert added not in rec["verifiers"] and sorted(seat["verifiers"]) == sorted([*rec["verifiers"], added])
    assert result["escalated"]["escalated"]["added"] == [added]
    on_ledger = next(r for r in live.assignment(rec["model_id"])["intervals"] if r["interval"] == rec["interval"])
    assert on_ledger["escalated"]["tx_id"] == tx and on_ledger["verifiers"] == seat["verifiers"]
    return live.name_of(added)


def test_majority_accept_verifies_and_vote_rules(live, runs, events):
    cert, assignment, rec = slow_model(live, runs, "accept", "org1-user1", "org2-admin")
    mid, i = cert["model_id"], rec["interval"]
    a, b = (live.name_of(fp) for fp in rec["verifiers"])  # majority-first: 2 of the 3 seats
    outsider = next(v for v in live.identities("verifier") if live.fingerprint(v) not in rec["verifiers"])
    other = 2  # the run has intervals 0 and 1
    assert_no_vote_yet(live, mid)

    # Refused before any vote: wrong voter, wrong interval, malformed ballot, too early to expire.
    live.refuse(outsider, "SubmitVote", mid, str(i), "ACCEPT", evidence("x"), status=403,
                match=f"is not assigned to interval {i} of model {mid} (round 0)")
    live.refuse("org1-user1", "SubmitVote", mid, str(i), "ACCEPT", evidence("x"), status=403,
                match="is not a registered verifier")
    live.refuse("org1-admin", "SubmitVote", mid, str(i), "ACCEPT", evidence("x"), status=403, match="role")
    live.refuse(a, "SubmitVote", mid, str(other), "ACCEPT", evidence("x"), status=403,
                match=f"interval {other} of model {mid} has no verifiers seated")
    live.refuse(a, "SubmitVote", mid, str(i), "MAYBE", evidence("x"), status=400, match="not ACCEPT or REJECT")
    live.refuse(a, "SubmitVote", mid, f"0{i}", "ACCEPT", evidence("x"), status=400, match="interval")
    live.refuse(a, "SubmitVote", mid, str(i), "ACCEPT", {"distances": {"l2": -1}, "replay_sha256": "0" * 64},
                status=400, match="schema vote_evidence")
    live.refuse(a, "SubmitVote", mid, str(i), "ACCEPT", {"distances": {"l2": 0}}, status=400,
                match="'replay_sha256' is a required property")
    live.refuse(a, "SubmitVote", UNKNOWN_MODEL, str(i), "ACCEPT", evidence("x"), status=404, match="unknown model")
    end = next(snap["sha256"] for snap in cert["snapshots"] if snap["index"] == i + 1)
    live.refuse(a, "SubmitVote", mid, str(i), "REJECT", {**evidence("x"), "replay_sha256": end}, status=400,
                match="evidence: a REJECT must show a difference")
    live.refuse(a, "SubmitVote", mid, str(i), "ACCEPT", {**evidence("x"), "scores_match": False}, status=400,
                match="evidence: an ACCEPT cannot carry scores_match false")
    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match="is past its deadline")
    assert_no_vote_yet(live, mid)

    # First vote: counted, nothing decided yet.
    first, tx = vote(live, a, mid, i, "ACCEPT", "replay matches")
    assert first["decision"] is None and first["model"]["status"] == "ASSIGNED"
    assert first["vote"]["verifier"]["fingerprint"] == live.fingerprint(a) and first["vote"]["round"] == 0
    cast = events.for_tx(tx)
    assert cast.name == "VoteCast"
    assert cast.payload["tally"] == {"ACCEPT": 1, "REJECT": 0} and cast.payload["needed"] == 2

    # The same verifier again — with the other verdict — is a double vote.
    live.refuse(a, "SubmitVote", mid, str(i), "REJECT", evidence("changed my mind"), status=409,
                match=f"double vote: verifier {live.fingerprint(a)} already voted on interval {i}")
    live.refuse(a, "SubmitVote", mid, str(i), "ACCEPT", evidence("replay matches"), status=409, match="double vote")

    # A dissent seats the third member (drawn from the seed); then the deciding vote: 2 of 3 ACCEPT.
    second, tx = vote(live, b, mid, i, "REJECT", "I disagree")
    assert second["decision"] is None
    c = seated_by_escalation(live, events, tx, second, rec)
    third, tx = vote(live, c, mid, i, "ACCEPT", "replay matches exactly")
    decision = third["decision"]
    assert decision["outcome"] == "ACCEPTED" and decision["round"] == 0
    assert decision["tally"] == {"ACCEPT": 2, "REJECT": 1} and decision["size"] == 3 and decision["needed"] == 2
    assert decision["votes"] == {live.fingerprint(a): "ACCEPT", live.fingerprint(b): "REJECT",
                                 live.fingerprint(c): "ACCEPT"}
    assert decision["reason"].startswith("sub-quorum majority: 2 of 3 verifiers voted ACCEPT (")
    assert "replay matches" in decision["reason"] and "I disagree" not in decision["reason"]

    state = live.model(mid)
    assert state["status"] == "VERIFIED" and state == third["model"]
    assert state["reason"] == ("all 1 selected interval(s) accepted by sub-quorum majority, and the claimed scores "
                               "of the other 1 confirmed")
    verdict = events.for_tx(tx)
    assert verdict.name == "ModelVerdict" and verdict.payload["status"] == "VERIFIED"
    assert verdict.payload["outcomes"] == [{"interval": j, "outcome": "ACCEPTED"} for j in (0, 1)]

    # What the ledger shows: exactly our three votes, the decision, the history in order.
    votes = live.query("GetVotes", mid, str(i))["votes"]
    assert {(v["verifier"]["fingerprint"], v["verdict"]) for v in votes} == set(decision["votes"].items())
    checks = live.query("GetVotes", mid, str(1 - i))["votes"]  # the score check
    assert checks and all(v["verdict"] == "ACCEPT" and v["evidence"]["details"]["mode"] == "scores" for v in checks)
    assert [v for v in live.query("GetVotes", mid)["votes"] if v["interval"] == i] == votes
    read = live.assignment(mid)
    assert record_of(read, i)["decision"] == decision and read["status"] == "VERIFIED"
    history = live.query("GetHistory", mid)["entries"]
    assert [e["value"]["status"] for e in history if e["record"] == "modelstate"] == ["SUBMITTED", "ASSIGNED", "VERIFIED"]
    assert sum(e["record"] == "vote" for e in history) == 3 + len(checks)
    assert sum(e["record"] == "decision" for e in history) == 2

    # Closed: no more votes, no expiry.
    live.refuse(a, "SubmitVote", mid, str(i), "REJECT", evidence("late"), status=409, match="is VERIFIED")
    live.refuse(outsider, "SubmitVote", mid, str(i), "REJECT", evidence("late"), status=409, match="closed")
    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match="only an ASSIGNED model")


def test_majority_reject_rejects(live, runs, events):
    """Submitted from Org2, so Org1's verifiers are drawn; the replay would match, but the
    contract follows the sub-quorum's majority, not the truth."""
    cert, assignment, rec = slow_model(live, runs, "reject", "org2-user1", "org1-admin")
    mid, i = cert["model_id"], rec["interval"]
    assert {live.mspid(live.name_of(fp)) for fp in rec["verifiers"]} == {"Org1MSP"}
    a, b = (live.name_of(fp) for fp in rec["verifiers"])
    assert_no_vote_yet(live, mid)

    first, _ = vote(live, a, mid, i, "REJECT", "weights differ after step 17")
    assert first["decision"] is None
    second, tx = vote(live, b, mid, i, "ACCEPT", "replay matches")
    assert second["decision"] is None and second["model"]["status"] == "ASSIGNED"
    c = seated_by_escalation(live, events, tx, second, rec)
    assert live.mspid(c) == "Org1MSP"  # still another org than the submitter's
    live.refuse(b, "SubmitVote", mid, str(i), "REJECT", evidence("again"), status=409, match="double vote")
    third, tx = vote(live, c, mid, i, "REJECT", "backdoor trigger in batch 3")

    decision = third["decision"]
    assert decision["outcome"] == "REJECTED" and decision["tally"] == {"ACCEPT": 1, "REJECT": 2}
    assert decision["reason"] == ("sub-quorum majority: 2 of 3 verifiers voted REJECT "
                                  "(backdoor trigger in batch 3; weights differ after step 17)")
    state = live.model(mid)
    assert state["status"] == "REJECTED" and state["rejected_intervals"] == [i]
    assert state["reason"] == f"interval {i} rejected: {decision['reason']}"
    verdict = events.for_tx(tx)
    assert verdict.name == "ModelVerdict" and verdict.payload["status"] == "REJECTED"
    assert verdict.payload["decided"][0]["outcome"] == "REJECTED"
    live.refuse(a, "SubmitVote", mid, str(i), "ACCEPT", evidence("late"), status=409, match="is REJECTED")


# --- settings and expiry ------------------------------------------------------------------------

def test_config_refusals_change_nothing(live):
    before = live.query("GetConfig")
    live.refuse("org1-user1", "ProposeConfig", {"deadline_seconds": 60}, status=403, match="not an MSP admin")
    live.refuse("org1-verifier1", "ProposeConfig", {"deadline_seconds": 60}, status=403, match="not an MSP admin")
    live.refuse("org1-admin", "ProposeConfig", {"sub_quorum_size": 4}, status=400, match="odd integer")
    live.refuse("org1-admin", "ProposeConfig", {"deadline_seconds": 0}, status=400, match="deadline_seconds must be")
    live.refuse("org1-admin", "ProposeConfig", {"k": True}, status=400, match="k must be")
    live.refuse("org1-admin", "ProposeConfig", {"quorum": 3}, status=400, match="unknown setting")
    live.refuse("org1-admin", "ProposeConfig", {}, status=400, match="no setting given")
    live.refuse("org1-admin", "ProposeConfig", "[3]", status=400, match="must be a JSON object")
    live.refuse("org1-admin", "GetConfig", "{}", status=400, match="arguments")
    assert live.query("GetConfig") == before


def test_settings_are_frozen_into_each_assignment(live):
    """Settings are global, so the change made here is a nudge of ``k`` by one part in 10^9 (it
    moves the outlier threshold by 3·10^-9 MAD: no real selection changes), in force only from
    just before a SubmitModel until its assignment has committed, and restored in a finally."""
    before = live.query("GetConfig")
    k = before["values"]["k"]
    nudged = k * (1 + 1e-9)
    payload = fake_payload("frozen", intervals=4, scores=decaying_scores(4))
    try:
        proposal = live.set_config({"k": nudged})
        view = live.query("GetConfig")
        assert view["values"] == {**before["values"], "k": nudged} and view["defaults"] == before["defaults"]
        assert view["updated"]["tx_id"] == proposal["applied_tx"]
        assert view["updated"]["by"]["fingerprint"] == live.fingerprint("org1-admin")
        live.submit_model(payload)
        assignment, _ = live.assign(payload["model_id"], "org2-admin")
    finally:
        live.set_config({"k": k})
    assert assignment["config"] == {**before["values"], "k": nudged}
    assert live.query("GetConfig")["values"]["k"] == k
    assert live.assignment(payload["model_id"])["config"]["k"] == nudged  # the model keeps its rules


def test_expired_assignment_is_restaffed_then_inconclusive(live, runs, events):
    """Expiry round by round. Each endorsing peer refuses a deadline transaction stamped more than
    clock_skew_seconds from its own clock, so the test assigns this model with a short deadline
    (frozen into its assignment; the global setting is restored at once) and stamps each expiry
    just past the current deadline, still within the skew of the peers' clocks. The dispatcher's
    sweep, which uses its real clock, never competes: every round is done within seconds.

    What this shows beyond expiry: an assigner can expire a round at most clock_skew_seconds
    early; a stamp further ahead is refused by the peers."""
    before = live.query("GetConfig")["values"]
    try:
        live.set_config({"deadline_seconds": SHORT_DEADLINE})
        cert, assignment, round0 = slow_model(live, runs, "expire", "org1-user1", "org2-admin")
    finally:
        live.set_config({"deadline_seconds": before["deadline_seconds"]})
    mid, i = cert["model_id"], round0["interval"]
    cfg = assignment["config"]
    limit, allowed, skew = cfg["deadline_seconds"], cfg["max_reassignments"], cfg["clock_skew_seconds"]
    assert limit == SHORT_DEADLINE
    if (allowed + 1) * (limit + 1) >= skew:
        pytest.skip(f"max_reassignments {allowed} and clock_skew_seconds {skew} on this network: "
                    "the rounds' stamps would run past the peers' skew")
    assert round0["deadline"] == round0["assigned_at"] + limit
    assert_no_vote_yet(live, mid)

    live.refuse("org1-user1", "ExpireAssignment", mid, status=403, match="neither an MSP admin")
    live.refuse("org1-admin", "ExpireAssignment", mid, status=403, match="independence")
    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match=f"earliest deadline {round0['deadline']}")
    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match="is past its deadline",
                timestamp=round0["deadline"] - 0.5)
    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match=f"at most ±{skew} s (clock_skew_seconds)",
                timestamp=time.time() + skew + 60)

    # Each expiry replaces the members who did not vote (all of them): a new round, fresh faces first.
    rounds = [round0]
    for number in range(1, allowed + 1):
        previous = rounds[-1]
        stamp = previous["deadline"] + 1
        assert_no_vote_yet(live, mid)
        result, tx = live.submit_tx("org2-admin", "ExpireAssignment", mid, timestamp=stamp, attempts=1)
        assert result["status"] == "ASSIGNED" and result["decided"] == [] and result["reason"] is None
        rec = record_of(live.assignment(mid), i)
        assert rec["round"] == number and len(rec["verifiers"]) == len(round0["verifiers"]) == len(set(rec["verifiers"]))
        assert rec["previous_rounds"][-1] == {
            "round": number - 1, "verifiers": previous["verifiers"], "deadline": previous["deadline"],
            "assigned_tx": previous["assigned_tx"], "missing": previous["verifiers"]}
        assert rec["assigned_tx"] == tx and rec["assigned_at"] == pytest.approx(stamp, abs=1e-3)
        assert rec["deadline"] == rec["assigned_at"] + limit
        assert [(a["interval"], a["round"], a["verifiers"]) for a in result["assignments"]] == \
            [(i, number, rec["verifiers"])]
        event = events.for_tx(tx)
        assert event.name == "IntervalsAssigned" and event.payload["decided"] == []
        assert "seed" not in event.payload and event.payload["assignments"] == result["assignments"]
        if number == 1:
            assert not set(rec["verifiers"]) & set(round0["verifiers"]), "fresh verifiers first"
            dropped = live.name_of(round0["verifiers"][0])
            live.refuse(dropped, "SubmitVote", mid, str(i), "ACCEPT", evidence("late"), status=403,
                        match=f"is not assigned to interval {i} of model {mid} (round 1)")
        rounds.append(rec)
    assert live.model(mid)["status"] == "ASSIGNED"

    # The last allowed round expires too: the interval, and so the model, is INCONCLUSIVE.
    last = rounds[-1]
    assert_no_vote_yet(live, mid)
    result, tx = live.submit_tx("org2-admin", "ExpireAssignment", mid, timestamp=last["deadline"] + 1, attempts=1)
    assert result["status"] == "INCONCLUSIVE" and result["assignments"] == []
    assert result["reason"] == f"interval(s) {i} inconclusive; no interval rejected"
    state = live.model(mid)
    assert state["status"] == "INCONCLUSIVE" and state["inconclusive_intervals"] == [i]
    assert state["reason"] == result["reason"]
    decision = record_of(live.assignment(mid), i)["decision"]
    assert decision["outcome"] == "INCONCLUSIVE" and decision["round"] == allowed
    assert decision["missing"] == last["verifiers"] and decision["votes"] == {}
    assert decision["tally"] == {"ACCEPT": 0, "REJECT": 0} and decision["tx_id"] == tx
    assert decision["reason"] == (f"deadline passed in round {allowed} with 0 of {len(last['verifiers'])} vote(s); "
                                  "no majority after the last allowed re-assignment")
    assert result["decided"] == [{k: decision[k] for k in ("interval", "outcome", "reason", "tally", "size",
                                                          "needed", "round")}]
    event = events.for_tx(tx)
    assert event.name == "ModelVerdict" and event.payload["status"] == "INCONCLUSIVE"
    assert event.payload["outcomes"] == [{"interval": j, "outcome": "INCONCLUSIVE" if j == i else "ACCEPTED"}
                                         for j in (0, 1)]

    live.refuse("org2-admin", "ExpireAssignment", mid, status=409, match="is INCONCLUSIVE",
                timestamp=last["deadline"] + 1)
    live.refuse("org1-user1", "AttestOutput", attestation_request(cert), status=409,
                match=f"state: model {mid} is INCONCLUSIVE; only a VERIFIED model's outputs are attested")
    member = next(n for fp in last["verifiers"] + round0["verifiers"] if (n := live.name_of(fp)))
    live.refuse(member, "SubmitVote", mid, str(i), "ACCEPT", evidence("late"), status=409, match="closed")
    history = live.query("GetHistory", mid)["entries"]
    assert [e["value"]["round"] for e in history if e["record"] == "interval" and e["value"]["interval"] == i] == \
        list(range(allowed + 1))
