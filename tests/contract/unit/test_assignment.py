"""AssignVerifiers: who may draw, what is selected, who is picked — and that the submitter
cannot steer any of it."""
from __future__ import annotations

import math
import uuid

import pytest

from tests.contract.factories import Cast, Net, decaying_scores, model_payload, party
from trainproof.chaincode.contract.config import DEFAULTS

pytestmark = pytest.mark.unit
ORG2 = {v.fingerprint for v in Cast.org2_verifiers}
ORG1 = {v.fingerprint for v in Cast.org1_verifiers}


def spiky_scores(n: int = 20) -> list[float]:
    scores = [s * (1 + 0.05 * math.sin(7.3 * i)) for i, s in enumerate(decaying_scores(n))]
    scores[13] *= 5  # an outlier against the trend
    scores[17] = 0.0  # no change at all
    return scores


def test_assignment_selects_outliers_zeros_and_an_audit_sample_with_odd_sub_quorums(net: Net):
    payload = model_payload(intervals=20, scores=spiky_scores())
    net.call(Cast.client1, "SubmitModel", payload)
    out = net.call(Cast.admin2, "AssignVerifiers", payload["model_id"], timestamp=net.ledger.clock + 60)
    reasons = {s["interval"]: s["reasons"] for s in out["selected"]}
    assert reasons[13] == ["detrended-mad", "joint"] and reasons[17] == ["zero"]  # its excess alone passes joint_k
    assert sum(r == ["audit"] for r in reasons.values()) == 4  # ceil(20 % of 20)
    assert out["status"] == "ASSIGNED" and out["config"]["sub_quorum_size"] == 3
    assert out["assigner"]["mspid"] == "Org2MSP" and out["assigner"]["role"] == "admin"
    assert out["submitter_org_excluded"] is True
    assurance = out["assurance"]
    assert (assurance["by_rules"], assurance["audited"], assurance["audit_pool"]) == (2, 4, 18)
    assert assurance["escape"]["1"] == pytest.approx(14 / 18)  # the audit misses one evading interval
    assert assurance["escape"]["5"] == pytest.approx(math.comb(13, 4) / math.comb(18, 4))
    others = [i for i in range(20) if i not in reasons]
    # Every interval has verifiers: the selected ones replay it, the others check its claimed scores.
    assert [r["interval"] for r in out["intervals"]] == list(range(20))
    assert [r["interval"] for r in out["intervals"] if r["kind"] == "replay"] == sorted(reasons)
    assert [r["interval"] for r in out["intervals"] if r["kind"] == "scores"] == others
    for rec in out["intervals"]:
        # A bare majority of the 3 seats first (majority-first), never the submitter's org here.
        assert (rec["size"], len(rec["verifiers"])) == (3, 2) and set(rec["verifiers"]) <= ORG2
        assert rec["round"] == 0 and rec["deadline"] == net.ledger.clock + 60 + 86400
    name, event = net.last_event()
    assert name == "IntervalsAssigned"
    assert event["model_id"] == payload["model_id"] and event["seed"] == out["seed"]
    assert [a["interval"] for a in event["assignments"] if a["kind"] == "replay"] == sorted(reasons)
    assert [a["interval"] for a in event["assignments"] if a["kind"] == "scores"] == others
    assert all((a["size"], len(a["verifiers"])) == (3, 2) and a["deadline"] for a in event["assignments"])
    state = net.call(Cast.client1, "GetModel", payload["model_id"])
    assert state["status"] == "ASSIGNED" and state["selected"] == sorted(reasons) and state["checked"] == others


def test_an_input_shift_outlier_is_selected_with_its_z(net: Net):
    payload = model_payload(intervals=20)
    payload["scores"][11]["input_shift"] = 3.0  # the update moved onto unusual inputs; its size looks normal
    net.call(Cast.client1, "SubmitModel", payload)
    out = net.call(Cast.admin2, "AssignVerifiers", payload["model_id"])
    entry = {s["interval"]: s for s in out["selected"]}[11]
    assert entry["reasons"] == ["input-shift", "joint"] and entry["shift_z"] > entry["shift_threshold"] == DEFAULTS["shift_k"]
    assert out["config"]["shift_k"] == DEFAULTS["shift_k"]


def test_a_rise_of_the_probe_loss_is_selected_with_its_size(net: Net):
    payload = model_payload(intervals=20)
    worse = payload["scores"][8]["probe_loss"][0] + 0.2  # snapshot 9 fits the claimed data worse than 8 did
    payload["scores"][8]["probe_loss"][1] = payload["scores"][9]["probe_loss"][0] = worse
    net.call(Cast.client1, "SubmitModel", payload)
    out = net.call(Cast.admin2, "AssignVerifiers", payload["model_id"])
    entry = {s["interval"]: s for s in out["selected"]}[8]
    assert entry["reasons"] == ["probe-rise"] and entry["probe_threshold"] == out["config"]["probe_rise"] == DEFAULTS["probe_rise"]
    assert entry["probe_rise"] == pytest.approx(0.2 / payload["scores"][0]["probe_loss"][0])
    assert "probe-rise" not in {r for e in out["selected"] if e["interval"] != 8 for r in e["reasons"]}


def test_a_shortened_interval_is_selected_as_too_small_a_change(net: Net):
    scores = [s * (1 + 0.05 * math.sin(7.3 * i)) for i, s in enumerate(decaying_scores(20))]
    scores[12] *= 0.5  # half its steps skipped: half the change its neighbours' trend predicts
    payload = model_payload(intervals=20, scores=scores)
    net.call(Cast.client1, "SubmitModel", payload)
    out = net.call(Cast.admin2, "AssignVerifiers", payload["model_id"])
    entry = {s["interval"]: s for s in out["selected"]}[12]
    assert entry["reasons"] == ["low-tail"] and entry["low_z"] < entry["low_threshold"] == -DEFAULTS["low_k"]
    assert out["config"]["low_k"] == DEFAULTS["low_k"]


def test_submitters_org_fills_the_sub_quorum_only_when_other_orgs_are_too_few(net: Net, submitted):
    net.set_config({"sub_quorum_size": 5, "replication": "full"})
    out = net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    assert out["submitter_org_excluded"] is False
    for rec in out["intervals"]:
        assert ORG2 <= set(rec["verifiers"]) and len(set(rec["verifiers"]) & ORG1) == 1


def test_too_few_active_verifiers_is_refused(net: Net, submitted):
    net.set_config({"sub_quorum_size": 5})
    for v in Cast.org2_verifiers[:2]:
        net.call(Cast.admin2, "SetVerifierStatus", v.fingerprint, "SUSPENDED")
    net.refuse(Cast.admin2, "AssignVerifiers", submitted["model_id"], status=409, match="quorum: 4 active verifier(s)")


def test_suspended_verifiers_are_not_picked(net: Net, submitted):
    gone = Cast.org2_verifiers[0]
    net.call(Cast.admin2, "SetVerifierStatus", gone.fingerprint, "SUSPENDED")
    out = net.call(Cast.org2_verifiers[1], "AssignVerifiers", submitted["model_id"])
    assert all(gone.fingerprint not in rec["verifiers"] for rec in out["intervals"])
    assert out["assigner"]["role"] == "verifier"


def test_a_submitting_verifier_is_never_picked_for_its_own_model(net: Net):
    submitter = Cast.org2_verifiers[0]  # verifiers hold client certificates, so they may submit too
    payload = model_payload()
    net.call(submitter, "SubmitModel", payload)
    net.refuse(submitter, "AssignVerifiers", payload["model_id"], status=403, match="independence")
    out = net.call(Cast.admin1, "AssignVerifiers", payload["model_id"])
    assert all(submitter.fingerprint not in rec["verifiers"] for rec in out["intervals"])


@pytest.mark.parametrize("who, rule", [
    (Cast.client2, "neither an MSP admin nor an active registered verifier"),
    (Cast.client1, "neither an MSP admin nor an active registered verifier"),
    (Cast.admin1, "independence: caller's org Org1MSP is the submitter's org"),
    (Cast.org1_verifiers[0], "independence: caller's org Org1MSP is the submitter's org"),
])
def test_who_may_not_assign(net: Net, submitted, who, rule):
    net.refuse(who, "AssignVerifiers", submitted["model_id"], status=403, match=rule)


def test_the_submitters_org_may_assign_when_no_other_org_has_active_verifiers(bare_net: Net):
    third = party("Org1MSP", "verifier2@org1.example.com", "client")
    for v in Cast.org1_verifiers + [third, Cast.org2_verifiers[0]]:
        admin = Cast.admin1 if v.mspid == "Org1MSP" else Cast.admin2
        bare_net.register_verifier(admin, v)
    bare_net.call(Cast.admin2, "SetVerifierStatus", Cast.org2_verifiers[0].fingerprint, "SUSPENDED")
    payload = model_payload()
    bare_net.call(Cast.client1, "SubmitModel", payload)
    out = bare_net.call(Cast.admin1, "AssignVerifiers", payload["model_id"])
    assert out["submitter_org_excluded"] is False


def test_assignment_runs_once_per_model(net: Net, submitted):
    net.call(Cast.admin2, "AssignVerifiers", submitted["model_id"])
    net.refuse(Cast.org2_verifiers[0], "AssignVerifiers", submitted["model_id"], status=409, match="once per model")


def test_unknown_model_and_bad_arguments(net: Net):
    net.refuse(Cast.admin2, "AssignVerifiers", str(uuid.uuid4()), status=404, match="unknown model")
    net.refuse(Cast.admin2, "AssignVerifiers", "x", status=400, match="UUID")
    net.refuse(Cast.admin2, "AssignVerifiers", status=400, match="usage: AssignVerifiers(model_id)")


# --- the submitter cannot steer the draw ------------------------------------------------------

def outcome(net: Net, model_id: str) -> tuple:
    view = net.call(Cast.client2, "GetAssignment", model_id)
    return tuple((rec["interval"], tuple(rec["reasons"]), tuple(rec["verifiers"])) for rec in view["intervals"])


def assign_once(model_id: str | None, submit_tx: str, submit_ts: float, assign_tx: str) -> tuple:
    """A fresh ledger: the submitter sends its submission as it likes, then Org2's admin assigns."""
    net = Net()
    net.register_verifiers()
    payload = model_payload(model_id, intervals=30, scores=spiky_scores(30))
    net.call(Cast.client1, "SubmitModel", payload, tx_id=submit_tx, timestamp=submit_ts)
    net.call(Cast.admin2, "AssignVerifiers", payload["model_id"], tx_id=assign_tx, timestamp=submit_ts + 30)
    return outcome(net, payload["model_id"])


def test_submitter_cannot_steer_by_grinding_its_own_transaction():
    """Whatever transaction id or timestamp the submitter grinds, the same reveals yield the same
    intervals and the same sub-quorums (its model id enters the seed, but it is fixed before any
    org commits and the orgs' secrets are unknown to it)."""
    fixed_id = str(uuid.uuid4())
    seen = {assign_once(fixed_id, f"submit-{i:04x}", 1_767_225_600.0 + 17 * i, "assign-tx-1") for i in range(6)}
    assert len(seen) == 1


def test_the_assigner_cannot_grind_its_transaction():
    """Issue 15, finding 5 (this replaced a test that the draw came from the assigner's tx id, the
    hole itself): whatever transaction id the assigner sends, the seed round fixed the draw."""
    fixed_id = str(uuid.uuid4())
    seen = {assign_once(fixed_id, "submit-0", 1_767_225_600.0, f"assign-tx-{i}") for i in range(6)}
    assert len(seen) == 1
