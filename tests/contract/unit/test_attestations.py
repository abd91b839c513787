"""AttestOutput, its audit draw and ConfirmAttestation on the in-memory ledger (issue 17)."""
from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from trainproof.chaincode.contract.attestations import DRAW_SCALE
from trainproof.chaincode.contract.prng import HashStream
from trainproof.chaincode.contract.router import handle
from trainproof.chaincode.contract.seeding import draw_seed
from tests.contract.factories import Cast, Net, attestation_request, evidence, model_payload, org_secret, sha, sha_hex

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}
_ids = itertools.count(1)


def tx_id() -> str:
    """Fabric transaction ids are 64 hex digits; the attestation id is its AttestOutput's."""
    return hashlib.sha256(f"attest-tx-{next(_ids)}".encode()).hexdigest()


def settle(net: Net, mid: str, verdict: str = "ACCEPT") -> str:
    """Assign the model and have every sub-quorum vote ``verdict``: VERIFIED or REJECTED."""
    out = net.call(Cast.admin2, "AssignVerifiers", mid)
    snapshots = {s["index"]: s["sha256"] for s in net.call(Cast.client1, "GetModel", mid)["certificate"]["snapshots"]}
    for rec in out["intervals"]:
        for fp in rec["verifiers"][:2]:
            ev = {**evidence(), "replay_sha256": snapshots[rec["interval"] + 1] if verdict == "ACCEPT" else "ab" * 32}
            state = net.call(BY_FP[fp], "SubmitVote", mid, str(rec["interval"]), verdict, ev)["model"]["status"]
            if state != "ASSIGNED":
                return state
    raise AssertionError("no verdict")


@pytest.fixture
def verified(net: Net) -> dict:
    payload = model_payload()
    net.call(Cast.client1, "SubmitModel", payload)
    assert settle(net, payload["model_id"]) == "VERIFIED"
    return payload


def attest(net: Net, model: dict, who=Cast.client1, **changes) -> dict:
    return net.call(who, "AttestOutput", attestation_request(model, **changes), tx_id=tx_id())


def seed(net: Net, aid: str) -> None:
    for admin in (Cast.admin1, Cast.admin2):
        net.call(admin, "CommitSeed", aid, sha_hex(org_secret(admin.mspid, aid)))
    for admin in (Cast.admin1, Cast.admin2):
        net.call(admin, "RevealSeed", aid, org_secret(admin.mspid, aid))


def test_a_verified_models_output_is_recorded_under_its_transaction_id(net: Net, verified):
    record = attest(net, verified)
    aid = record["attestation_id"]
    assert record["tx_id"] == aid and record["audit"]["state"] == "AWAITING_DRAW"
    assert record["attester"]["mspid"] == "Org1MSP" and record["output"]["values"] == [0.25, -1.5, 3.0]
    name, event = net.last_event()
    assert name == "OutputAttested" and event["attestation_id"] == aid and event["submitter"] == record["attester"]
    got = net.call(Cast.client2, "GetAttestation", aid)
    assert got["model_status"] == "VERIFIED" and got["root"] == record["root"]
    listed = net.call(Cast.client2, "ListAttestations", {"model_id": verified["model_id"]})
    assert [a["attestation_id"] for a in listed["attestations"]] == [aid]
    waiting = net.call(Cast.client2, "ListAttestations", {"audit": "AWAITING_DRAW"})["attestations"]
    assert [a["attestation_id"] for a in waiting] == [aid]


@pytest.mark.parametrize("verdict, status", [("REJECT", "REJECTED"), (None, "SUBMITTED"), ("assign", "ASSIGNED")])
def test_only_a_verified_model_is_attested(net: Net, verdict, status):
    payload = model_payload()
    net.call(Cast.client1, "SubmitModel", payload)
    if verdict == "REJECT":
        assert settle(net, payload["model_id"], "REJECT") == "REJECTED"
    elif verdict == "assign":
        net.call(Cast.admin2, "AssignVerifiers", payload["model_id"])
    net.refuse(Cast.client1, "AttestOutput", attestation_request(payload), tx_id=tx_id(), status=409,
               match=f"state: model {payload['model_id']} is {status}; only a VERIFIED model's outputs are attested")


def test_unknown_model_and_other_weights_are_refused(net: Net, verified):
    other = model_payload()
    net.refuse(Cast.client1, "AttestOutput", attestation_request(other), tx_id=tx_id(), status=404, match="unknown model")
    not_final = verified["snapshots"][-2]["sha256"]
    net.refuse(Cast.client1, "AttestOutput", attestation_request(verified, weights_sha256=not_final), tx_id=tx_id(), status=409,
               match=f"weights: {not_final} is not model {verified['model_id']}'s final snapshot")


@pytest.mark.parametrize("change, rule", [
    ({"root": sha("wrong")}, "root: a batch of one has root SHA-256(0x00"),
    ({"count": 2}, "output: only a batch of one carries its output"),
    ({"batch": {"uri": "s3://elsewhere/sha256/" + sha("batch"), "sha256": sha("batch"), "size": 1}},
     "storage: batch uri"),
    ({"batch": {"uri": f"s3://datasets/sha256/{sha('batch')}", "sha256": sha("batch"), "size": 1 << 31}},
     "limits: the batch file is"),
    ({"count": 0}, "schema attestation_request"),
    ({"weights_sha256": "XYZ"}, "schema attestation_request"),
    ({"extra": 1}, "schema attestation_request"),
    ({"note": "bell\u0007"}, "attestation"),
])
def test_malformed_requests_are_refused_with_their_reason(net: Net, verified, change, rule):
    net.refuse(Cast.client1, "AttestOutput", {**attestation_request(verified), **change}, tx_id=tx_id(), status=400, match=rule)


def test_a_batch_without_its_output_listed_and_roles(net: Net, verified):
    batch = attestation_request(verified, count=10_000)
    net.call(Cast.client2, "AttestOutput", batch, tx_id=tx_id())
    single = attestation_request(verified)
    del single["output"]
    net.refuse(Cast.client1, "AttestOutput", single, tx_id=tx_id(), status=400, match="output: a batch of one output carries it")
    net.refuse(Cast.admin1, "AttestOutput", attestation_request(verified), tx_id=tx_id(), status=403, match="role")
    net.refuse(Cast.client1, "AttestOutput", "{not json", tx_id=tx_id(), status=400, match="attestation")
    net.set_config({"max_attested_outputs": 100})
    net.refuse(Cast.client1, "AttestOutput", batch, tx_id=tx_id(), status=400, match="limits: count 10000")


def test_the_draw_is_fixed_by_the_orgs_reveals_not_by_who_sends_it(net: Net, verified):
    aid = attest(net, verified)["attestation_id"]
    net.refuse(Cast.admin2, "AuditAttestation", aid, status=409, match=f"seed: the seed round of attestation {aid}")
    net.refuse(Cast.client1, "CommitSeed", aid, sha_hex("11" * 32), status=403, match="role")
    seed(net, aid)
    _, event = net.last_event()
    assert event["attestation_id"] == aid
    views = set()
    for i, who in enumerate([Cast.admin2] + Cast.org2_verifiers):
        e = net.ledger.endorse(handle, who.creator, "AuditAttestation", [aid.encode()], tx_id=f"grind-{i}")
        assert e.error is None, e.error
        audit = json.loads(e.response)["audit"]
        views.add((audit["seed"], audit["state"], audit.get("verifier")))
    assert len(views) == 1
    record = net.call(Cast.admin2, "AuditAttestation", aid)
    drawn = draw_seed({m: org_secret(m, aid) for m in ("Org1MSP", "Org2MSP")}, aid)
    assert record["audit"]["seed"] == drawn.hex()
    expected = HashStream(drawn, "attest/audit").below(DRAW_SCALE) < round(0.1 * DRAW_SCALE)
    assert (record["audit"]["state"] == "AUDITING") == expected
    # Drawn once: a second draw is refused (a sampled check only re-staffs past its deadline).
    net.refuse(Cast.admin2, "AuditAttestation", aid, status=409, match="deadline:" if expected else "once: attestation")
    net.refuse(Cast.admin1, "CommitSeed", aid, sha_hex("33" * 32), status=409, match="AWAITING_DRAW")


def test_the_attester_and_its_org_do_not_draw(net: Net, verified):
    aid = attest(net, verified)["attestation_id"]
    seed(net, aid)
    net.refuse(Cast.admin1, "AuditAttestation", aid, status=403, match="caller's org Org1MSP is the submitter's org")


def audited(net: Net, model: dict, fraction: float = 1.0) -> tuple[str, dict]:
    net.set_config({"attest_audit_fraction": fraction})
    aid = attest(net, model)["attestation_id"]
    seed(net, aid)
    return aid, net.call(Cast.admin2, "AuditAttestation", aid)["audit"]


def check(root: str, **changes) -> dict:
    return {"output_root": root, "exact": True, "max_abs_diff": 0.0, "tolerance": 0.0, "checked": 1,
            "fingerprint_match": True, **changes}


def test_an_audited_attestation_is_checked_by_a_verifier_of_another_org(net: Net, verified):
    aid, audit = audited(net, verified)
    assert audit["state"] == "AUDITING" and audit["verifier_mspid"] == "Org2MSP" and audit["independent"]
    name, event = net.last_event()
    assert name == "AttestationAudit" and event["audit"]["verifier"] == audit["verifier"]
    root = net.call(Cast.client1, "GetAttestation", aid)["root"]
    others = [v for fp, v in BY_FP.items() if fp != audit["verifier"]]
    net.refuse(others[0], "ConfirmAttestation", aid, "CONFIRMED", check(root), status=403, match="not assigned")
    me = BY_FP[audit["verifier"]]
    net.refuse(me, "ConfirmAttestation", aid, "DISPUTED", check(root), status=400,
               match="a DISPUTED check must show a difference")
    net.refuse(me, "ConfirmAttestation", aid, "CONFIRMED", check(sha("x")), status=400,
               match="a CONFIRMED check with another output_root must be a tolerance match")
    net.refuse(me, "ConfirmAttestation", aid, "MAYBE", check(root), status=400, match="not CONFIRMED or DISPUTED")
    net.refuse(me, "ConfirmAttestation", aid, "CONFIRMED", {"output_root": root}, status=400, match="schema")
    out = net.call(me, "ConfirmAttestation", aid, "CONFIRMED", check(root))
    assert out["audit"]["state"] == "CONFIRMED" and out["audit"]["check"]["verifier"]["fingerprint"] == audit["verifier"]
    assert net.last_event()[0] == "AttestationChecked"
    net.refuse(me, "ConfirmAttestation", aid, "CONFIRMED", check(root), status=409, match="is CONFIRMED")


def test_a_dispute_stays_on_the_record(net: Net, verified):
    aid, audit = audited(net, verified)
    other = sha("recomputed")
    net.call(BY_FP[audit["verifier"]], "ConfirmAttestation", aid, "DISPUTED",
             check(other, exact=False, max_abs_diff=0.7, reason="output differs"))
    got = net.call(Cast.client2, "GetAttestation", aid)
    assert got["audit"]["state"] == "DISPUTED" and got["audit"]["check"]["evidence"]["output_root"] == other
    listed = net.call(Cast.client2, "ListAttestations", {"model_id": verified["model_id"]})["attestations"]
    assert listed[0]["audit"]["state"] == "DISPUTED"
    assert net.call(Cast.client2, "ListAttestations", {"audit": "AUDITING"})["attestations"] == []
    assert [a["attestation_id"] for a in net.call(Cast.client2, "ListAttestations", {"audit": "DISPUTED"})
            ["attestations"]] == [aid]


def test_a_late_check_is_restaffed_then_given_up(net: Net, verified):
    aid, audit = audited(net, verified)
    net.refuse(Cast.admin2, "AuditAttestation", aid, status=409, match="deadline:")
    seen = [audit["verifier"]]
    for round_ in (1, 2):
        net.ledger.clock += 86400 + 1
        audit = net.call(Cast.admin2, "AuditAttestation", aid)["audit"]
        assert audit["state"] == "AUDITING" and audit["round"] == round_ and audit["verifier"] not in seen
        seen.append(audit["verifier"])
    net.ledger.clock += 86400 + 1
    audit = net.call(Cast.admin2, "AuditAttestation", aid)["audit"]
    assert audit["state"] == "UNCHECKED" and [p["verifier"] for p in audit["previous"]] == seen


def test_not_sampled_at_the_lowest_fraction_for_most_attestations(net: Net, verified):
    """At 1 % the draw leaves most attestations unaudited; each one is decided by its own seed."""
    states = [audited(net, verified, fraction=0.01)[1]["state"] for _ in range(8)]
    assert set(states) <= {"NOT_SAMPLED", "AUDITING"} and states.count("NOT_SAMPLED") >= 6


def test_attestation_queries_write_nothing(net: Net, verified):
    aid = attest(net, verified)["attestation_id"]
    for function, args in (("GetAttestation", [aid]), ("ListAttestations", [json.dumps({"model_id": verified["model_id"]})]),
                           ("ListAttestations", [json.dumps({"audit": "AWAITING_DRAW"})])):
        before = net.ledger.snapshot()
        endorsement = net.ledger.endorse(handle, Cast.client2.creator, function, [a.encode() for a in args])
        assert endorsement.error is None and endorsement.stub.writes == {} and endorsement.stub.event is None
        assert net.ledger.snapshot() == before


def test_queries_refuse_bad_ids(net: Net, verified):
    net.refuse(Cast.client1, "GetAttestation", "nope", status=400, match="attestation id")
    net.refuse(Cast.client1, "GetAttestation", "ab" * 32, status=404, match="unknown attestation")
    net.refuse(Cast.client1, "ListAttestations", {"model_id": verified["model_id"], "page_size": 0}, status=400,
               match="filter: page_size")
    net.refuse(Cast.client1, "ListAttestations", {}, status=400, match="exactly one of model_id or audit")
    net.refuse(Cast.client1, "ListAttestations", {"audit": "SOMETIME"}, status=400, match="audit must be one of")
    net.refuse(Cast.client1, "CommitSeed", "cd" * 32, sha_hex("11" * 32), status=404, match="unknown attestation")
    net.refuse(Cast.client1, "CommitSeed", "zz", sha_hex("11" * 32), status=400, match="subject:")
