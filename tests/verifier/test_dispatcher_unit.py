"""Dispatcher.handle(): each contract event turned into work, on a fake ledger and a fake queue."""
from __future__ import annotations

import pytest

from trainproof.contract import Conflict, Transient, classify
from trainproof.gateway import EndorseError, ErrorDetail
from trainproof.verifier import dispatcher
from trainproof.verifier.dispatcher import Dispatcher

pytestmark = pytest.mark.unit

V1, V2, V3 = "a" * 64, "b" * 64, "c" * 64


ROUNDS: dict[str, dict] = {}  # model id -> seed round, shared by the orgs' fake ledgers (reset per test)
MEMBERS = ["Org1MSP", "Org2MSP"]


class FakeLedger:
    """Records AssignVerifiers calls; fails with the scripted errors first. Keeps a seed round as
    the contract does (commit, then reveal once every member committed)."""

    def __init__(self, failures=(), mspid: str = "") -> None:
        self.failures, self.assigned, self.mspid = list(failures), [], mspid
        self.attestations: dict[str, list[dict]] = {}  # audit state -> rows ListAttestations returns
        self.audited: list[str] = []

    def get_seed_round(self, model_id: str) -> dict:
        if model_id not in ROUNDS:
            raise classify(EndorseError("x", [ErrorDetail("p", "GetSeedRound refused: not found: none", 404)]))
        return ROUNDS[model_id]

    def commit_seed(self, model_id: str, commitment: str) -> dict:
        rnd = ROUNDS.setdefault(model_id, {"members": MEMBERS, "commitments": {}, "reveals": {}, "closed_at": None})
        rnd["commitments"][self.mspid] = {"commitment": commitment}
        if set(MEMBERS) <= set(rnd["commitments"]):
            rnd["closed_at"] = 1.0
        return rnd

    def reveal_seed(self, model_id: str, secret: str) -> dict:
        ROUNDS[model_id]["reveals"][self.mspid] = {"secret": secret}
        return ROUNDS[model_id]

    def assign_verifiers(self, model_id: str) -> dict:
        self.assigned.append(model_id)
        if self.failures:
            raise self.failures.pop(0)
        return {}

    def list_attestations(self, audit: str, page_size: int, bookmark: str | None) -> dict:
        return {"attestations": self.attestations.get(audit, []), "bookmark": ""}

    def audit_attestation(self, attestation_id: str) -> dict:
        self.audited.append(attestation_id)
        return {}


@pytest.fixture
def setup(monkeypatch):
    monkeypatch.setattr(dispatcher.time, "sleep", lambda _s: None)

    ROUNDS.clear()

    def make(org1=(), org2=()):
        queued = []
        ledgers = {"Org1MSP": FakeLedger(org1, "Org1MSP"), "Org2MSP": FakeLedger(org2, "Org2MSP")}
        return Dispatcher(ledgers, enqueue=lambda *task: queued.append(task)), ledgers, queued
    return make


def submitted(msp: str) -> dict:
    return {"event": "ModelSubmitted", "model_id": "m", "submitter": {"mspid": msp}}


def test_a_submission_is_assigned_by_another_org(setup):
    d, ledgers, queued = setup()
    d.handle("ModelSubmitted", submitted("Org1MSP"))
    assert ledgers["Org2MSP"].assigned == ["m"] and ledgers["Org1MSP"].assigned == [] and queued == []


def test_no_assigner_outside_the_submitters_org_leaves_it_to_others(setup):
    d = Dispatcher({"Org1MSP": FakeLedger(mspid="Org1MSP")}, enqueue=lambda *t: None)
    d.handle("ModelSubmitted", submitted("Org1MSP"))
    assert d._ledgers["Org1MSP"].assigned == []


def test_assignment_is_retried_until_it_lands_and_stops_at_already(setup):
    down = classify(EndorseError("AssignVerifiers was not endorsed", [ErrorDetail("p", "UNAVAILABLE: down")]))
    already = classify(EndorseError("x", [ErrorDetail("p", "AssignVerifiers refused: state: already assigned", 409)]))
    assert isinstance(down, Transient) and isinstance(already, Conflict)
    d, ledgers, _ = setup(org2=[down, already])
    d.handle("ModelSubmitted", submitted("Org1MSP"))
    assert ledgers["Org2MSP"].assigned == ["m", "m"]


def test_intervals_assigned_enqueue_one_task_per_member(setup):
    d, _, queued = setup()
    d.handle("IntervalsAssigned", {"model_id": "m", "submitter": {"mspid": "Org1MSP"}, "assignments": [
        {"interval": 3, "verifiers": [V1, V2], "deadline": 100.0, "round": 0, "reasons": ["audit"]},
        {"interval": "5", "verifiers": [V3], "deadline": 200.0},
    ]})
    assert queued == [("m", 3, V1, f"m:3:{V1[:16]}:0"), ("m", 3, V2, f"m:3:{V2[:16]}:0"),
                      ("m", 5, V3, f"m:5:{V3[:16]}:0")]
    assert d._assigned["m"] == (200.0, "Org1MSP")


def test_a_restaffed_interval_after_an_expiry_enqueues_the_new_round(setup):
    d, _, queued = setup()
    d.handle("IntervalDecided", {"model_id": "m", "submitter": {"mspid": "Org2MSP"},
                                 "assignments": [{"interval": 1, "verifiers": [V2], "deadline": 50.0, "round": 1}]})
    assert queued == [("m", 1, V2, f"m:1:{V2[:16]}:1")] and d._assigned["m"] == (50.0, "Org2MSP")
    queued.clear()
    d.handle("IntervalDecided", {"model_id": "m", "interval": 1, "outcome": "ACCEPTED"})
    assert queued == []


def test_an_escalation_enqueues_only_the_seats_it_filled(setup):
    """The seated members already have tasks (one may still be replaying): queuing them again
    would replay the interval twice."""
    d, _, queued = setup()
    d.handle("IntervalEscalated", {"model_id": "m", "submitter": {"mspid": "Org1MSP"}, "vote": {"interval": 4},
                                   "escalations": [{"interval": 4, "round": 0, "size": 3, "verifiers": [V1, V2, V3],
                                                    "deadline": 300.0, "added": [V3]}]})
    assert queued == [("m", 4, V3, f"m:4:{V3[:16]}:0")] and d._assigned["m"] == (300.0, "Org1MSP")


def test_a_verdict_ends_the_deadline_watch(setup):
    d, _, queued = setup()
    d.handle("IntervalsAssigned", {"model_id": "m", "submitter": {"mspid": "Org1MSP"},
                                   "assignments": [{"interval": 0, "verifiers": [V1], "deadline": 9.0}]})
    d.handle("ModelVerdict", {"model_id": "m", "status": "VERIFIED", "reason": "", "assignments": None})
    assert "m" not in d._assigned and len(queued) == 1


def test_a_submission_goes_through_the_seed_round_before_it_is_assigned(setup):
    d, ledgers, _ = setup()
    d.handle("ModelSubmitted", submitted("Org1MSP"))
    rnd = ROUNDS["m"]
    assert sorted(rnd["commitments"]) == sorted(rnd["reveals"]) == MEMBERS
    for msp, reveal in rnd["reveals"].items():
        assert dispatcher.seed_commitment(reveal["secret"]) == rnd["commitments"][msp]["commitment"]
    assert ledgers["Org2MSP"].assigned == ["m"]


def test_a_round_stuck_between_commit_and_reveal_is_finished_by_reconcile(setup, monkeypatch):
    d, ledgers, _ = setup()
    key1 = d._seed_keys["Org1MSP"]
    ledgers["Org1MSP"].commit_seed("m", dispatcher.seed_commitment(dispatcher.seed_secret(key1, "m")))
    ledgers["Org2MSP"].commit_seed("m", dispatcher.seed_commitment(dispatcher.seed_secret(d._seed_keys["Org2MSP"], "m")))
    monkeypatch.setattr(d, "_models", lambda status: iter([{"model_id": "m", "submitter": {"mspid": "Org1MSP"}}]
                                                          if status == "SUBMITTED" else []))
    d.reconcile()
    assert sorted(ROUNDS["m"]["reveals"]) == MEMBERS and ledgers["Org2MSP"].assigned == ["m"]


def test_a_restarted_dispatcher_rederives_the_same_secret(tmp_path):
    key = tmp_path / "key.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    a, b = dispatcher.org_seed_key(key), dispatcher.org_seed_key(key)
    assert dispatcher.seed_secret(a, "m") == dispatcher.seed_secret(b, "m") != dispatcher.seed_secret(a, "n")


# --- attestations (issue 17): the same seed round, then the audit draw, then the check task --------------

AID = "ab" * 32


def attested(msp: str = "Org1MSP") -> dict:
    return {"event": "OutputAttested", "attestation_id": AID, "model_id": "m", "submitter": {"mspid": msp},
            "audit": {"state": "AWAITING_DRAW"}}


def test_an_attestation_goes_through_its_seed_round_to_the_draw_by_another_org(setup):
    d, ledgers, queued = setup()
    d.handle("OutputAttested", attested("Org1MSP"))
    assert set(ROUNDS[AID]["reveals"]) == set(MEMBERS), "both orgs committed and revealed for the attestation"
    assert ledgers["Org2MSP"].audited == [AID] and ledgers["Org1MSP"].audited == [] and queued == []
    assert ledgers["Org2MSP"].assigned == [], "an attestation event never assigns a model"


def test_an_audited_attestation_is_one_check_task_on_the_drawn_verifiers_queue(setup):
    checks = []
    d, ledgers, _ = setup()
    d._enqueue_check = lambda *task: checks.append(task)
    audit = {"state": "AUDITING", "verifier": "f" * 64, "round": 0, "deadline": 100.0}
    d.handle("AttestationAudit", {**attested(), "event": "AttestationAudit", "audit": audit})
    assert checks == [(AID, "f" * 64, f"attest:{AID}:{'f' * 16}:0")]
    d.expire_overdue(now=50.0)
    assert ledgers["Org2MSP"].audited == []
    d.expire_overdue(now=101.0)  # past the deadline: re-staffed by another org than the attester's
    assert ledgers["Org2MSP"].audited == [AID] and ledgers["Org1MSP"].audited == []
    d.expire_overdue(now=500.0)
    assert ledgers["Org2MSP"].audited == [AID], "watched once; the re-staffing event brings the next deadline"


def test_not_sampled_and_checked_attestations_need_nothing(setup):
    checks = []
    d, _, _ = setup()
    d._enqueue_check = lambda *task: checks.append(task)
    for state in ("NOT_SAMPLED", "CONFIRMED", "DISPUTED"):
        d.handle("AttestationAudit", {**attested(), "audit": {"state": state}})
    assert checks == [] and d._audits == {}


def test_reconcile_draws_waiting_attestations_and_watches_audits(setup):
    d, ledgers, _ = setup()
    for ledger in ledgers.values():
        ledger.list_models = lambda query: {"models": [], "bookmark": ""}
        ledger.attestations = {
            "AWAITING_DRAW": [{"attestation_id": AID, "attester": {"mspid": "Org2MSP"}}],
            "AUDITING": [{"attestation_id": "cd" * 32, "attester": {"mspid": "Org1MSP"}, "audit": {"deadline": 7.0}}],
        }
    d.reconcile()
    assert ledgers["Org1MSP"].audited == [AID], "drawn by the org other than the attester's"
    assert d._audits == {"cd" * 32: (7.0, "Org1MSP")}
