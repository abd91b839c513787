"""Confidential models (issue #18): sealed artifacts in the certificate, and their data keys
delivered wrapped to the assigned verifiers, the submitter and granted identities only."""
from __future__ import annotations

import base64
import copy
import os

import pytest
from trainproof.chaincode.contract.router import handle
from trainproof.confidential.keywrap import load_certificate, unwrap, wrap
from tests.contract.factories import (Cast, Net, Party, confirm_score_checks, evidence, keyed_party, model_payload, replays,
                                     sealed_payload, sha)

pytestmark = pytest.mark.unit
BY_FP = {v.fingerprint: v for v in Cast.org1_verifiers + Cast.org2_verifiers}
DAY = 86400


READER, READER_KEY = keyed_party("Org2MSP", "auditor@org2.example.com")


def wrapped_for(who: Party, model: dict, artifact: str, key: bytes = b"k" * 32) -> dict:
    return wrap(key, load_certificate(who.pem), model["model_id"], artifact)


def sealed_shas(model: dict) -> list[str]:
    """Plaintext hashes of the model's sealed artifacts, dataset first."""
    sealed = {s["index"] for s in model["confidential"].get("snapshots", [])}
    return ([model["dataset"]["sha256"]] if "dataset" in model["confidential"] else []) + [
        s["sha256"] for s in model["snapshots"] if s["index"] in sealed]


def delivery(model: dict, *recipients: Party, artifacts: list[str] | None = None) -> dict:
    shas = artifacts if artifacts is not None else sealed_shas(model)
    return {"keys": {r.fingerprint: {a: wrapped_for(r, model, a) for a in shas} for r in recipients}}


@pytest.fixture
def confidential(net: Net) -> dict:
    """A confidential model (dataset and every snapshot sealed) submitted by Org1's client."""
    payload = sealed_payload(model_payload(intervals=4))
    net.call(Cast.client1, "SubmitModel", payload)
    return payload


@pytest.fixture
def assigned(net: Net, confidential) -> dict[int, list[str]]:
    """Every interval's seats: one of the four replayed (the audit), three score-checked, the
    checks settled (so only the replayed interval can be re-staffed)."""
    out = net.call(Cast.admin2, "AssignVerifiers", confidential["model_id"])
    confirm_score_checks(net, out)
    return {r["interval"]: r["verifiers"] for r in out["intervals"]}


def assigned_parties(quorums: dict[int, list[str]]) -> list[Party]:
    return [BY_FP[fp] for fp in sorted({fp for q in quorums.values() for fp in q})]


# --- the certificate ----------------------------------------------------------------------------

def test_a_confidential_certificate_is_stored_as_given(net: Net, confidential):
    got = net.call(Cast.client2, "GetModel", confidential["model_id"])["certificate"]
    assert got["confidential"] == confidential["confidential"]
    assert got["dataset"]["uri"].endswith("/" + confidential["confidential"]["dataset"]["sha256"])


def test_only_some_snapshots_may_be_sealed(net: Net):
    payload = sealed_payload(model_payload(intervals=3), dataset=False, snapshots=[1, 2, 3])
    net.call(Cast.client1, "SubmitModel", payload)
    assert net.call(Cast.client1, "ListGrants", payload["model_id"]) == {
        "model_id": payload["model_id"], "confidential": True, "grants": []}


def _edit(payload: dict, change) -> dict:
    out = copy.deepcopy(payload)
    change(out)
    return out


def _plain_uri(p: dict) -> None:
    p["dataset"]["uri"] = f"s3://datasets/sha256/{p['dataset']['sha256']}"


def _other_prefix(p: dict) -> None:
    p["snapshots"][1]["uri"] = f"s3://elsewhere/sha256/{p['confidential']['snapshots'][1]['sha256']}"


@pytest.mark.parametrize("change, match", [
    (lambda p: p["confidential"]["snapshots"].reverse(), "confidential: sealed snapshot indices [3, 2, 1, 0]"),
    (lambda p: p["confidential"]["snapshots"].__setitem__(1, {**p["confidential"]["snapshots"][0]}),
     "must be unique and increasing"),
    (lambda p: p["confidential"].update(snapshots=[{"index": 7, "sha256": sha("x"), "size": 10 ** 6}]),
     "confidential: sealed snapshot 7 does not exist"),
    (lambda p: p["confidential"]["dataset"].update(sha256=p["dataset"]["sha256"]),
     "confidential: dataset's ciphertext has its plaintext's sha256"),
    (lambda p: p["confidential"]["dataset"].update(size=p["dataset"]["size"] + 36),
     "confidential: dataset's ciphertext is"),
    (_plain_uri, "manifest: dataset's uri"),
    (_other_prefix, "storage: snapshot 1 uri"),
    (lambda p: p.update(confidential={}), "schema model_submission"),
    (lambda p: p["confidential"].update(dataset=True), "schema model_submission"),
])
def test_a_confidential_object_that_does_not_describe_sealings_is_refused(net: Net, change, match):
    payload = _edit(sealed_payload(model_payload(intervals=3)), change)
    net.refuse(Cast.client1, "SubmitModel", payload, status=400, match=match)


def test_a_sealed_artifacts_uri_addresses_its_ciphertext(net: Net):
    payload = sealed_payload(model_payload(intervals=3))
    net.refuse(Cast.client1, "SubmitModel", _edit(payload, _plain_uri), status=400,
               match="end in /sha256/<its ciphertext's sha256 (it is sealed)>")


def test_the_ciphertext_counts_against_the_size_limits(net: Net):
    net.set_config({"max_snapshot_bytes": 410_000})  # the plaintext snapshots are exactly that
    payload = sealed_payload(model_payload(intervals=3))
    net.refuse(Cast.client1, "SubmitModel", payload, status=400,
               match="limits: snapshot 0's ciphertext is 410053 bytes, over the consortium's max_snapshot_bytes")
    net.call(Cast.client1, "SubmitModel", sealed_payload(model_payload(intervals=3), snapshots=[]))


# --- DeliverDataKeys ----------------------------------------------------------------------------

def test_the_submitter_delivers_to_the_assigned_verifiers(net: Net, confidential, assigned):
    mid, parties = confidential["model_id"], assigned_parties(assigned)
    out = net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, *parties))
    assert [r["fingerprint"] for r in out["recipients"]] == sorted(p.fingerprint for p in parties)
    assert all(r["role"] == "verifier" and r["artifacts"] == 6 and r["missing"] == 0 for r in out["recipients"])
    name, event = net.last_event()
    assert name == "DataKeysDelivered" and event["recipients"] == out["recipients"]
    assert event["submitter"]["fingerprint"] == Cast.client1.fingerprint
    me = parties[0]
    got = net.call(me, "GetDataKeys", mid)
    assert got["role"] == "verifier" and got["recipient"] == me.fingerprint and got["missing"] == []
    assert set(got["keys"]) == set(sealed_shas(confidential))
    assert got["intervals"] == sorted(i for i, q in assigned.items() if me.fingerprint in q)
    # Only the caller's own keys: another verifier's wrappings are not in its answer.
    other = parties[1]
    assert got["keys"] != net.call(other, "GetDataKeys", mid)["keys"]


def test_a_later_delivery_adds_keys(net: Net, confidential, assigned):
    mid, me = confidential["model_id"], assigned_parties(assigned)[0]
    first, *rest = sealed_shas(confidential)
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, me, artifacts=[first]))
    assert net.call(me, "GetDataKeys", mid)["missing"] == sorted(rest)
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, me, artifacts=rest))
    got = net.call(me, "GetDataKeys", mid)
    assert got["missing"] == [] and len(got["keys"]) == 6


def test_only_the_submitter_delivers(net: Net, confidential, assigned):
    mid, body = confidential["model_id"], delivery(confidential, assigned_parties(assigned)[0])
    for who in (Cast.client2, Cast.admin1, assigned_parties(assigned)[0], Cast.org1_verifiers[0]):
        net.refuse(who, "DeliverDataKeys", mid, body, status=403, match=f"role: only the submitter of model {mid}")


def test_keys_go_only_to_assigned_active_verifiers_the_submitter_and_grantees(net: Net, confidential, assigned):
    mid = confidential["model_id"]
    outsider = next(v for v in BY_FP.values() if all(v.fingerprint not in q for q in assigned.values()))
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, outsider), status=403,
               match=f"recipient: {outsider.fingerprint} is neither a verifier assigned now")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, Cast.client2), status=403,
               match="nor an identity it granted access")
    mine = net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, Cast.client1))
    assert mine["recipients"][0]["role"] == "submitter"
    assert net.call(Cast.client1, "GetDataKeys", mid)["role"] == "submitter"
    net.call(Cast.client1, "GrantAccess", mid, {"cert_pem": Cast.client2.pem, "mspid": "Org2MSP"})
    granted = net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, Cast.client2))
    assert granted["recipients"][0]["role"] == "grantee"


def test_a_suspended_verifier_gets_no_new_keys(net: Net, confidential, assigned):
    mid, (gone, *others) = confidential["model_id"], assigned_parties(assigned)
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, gone))
    admin = Cast.admin1 if gone.mspid == "Org1MSP" else Cast.admin2
    net.call(admin, "SetVerifierStatus", gone.fingerprint, "SUSPENDED")
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, others[0], gone), status=403,
               match=f"recipient: verifier {gone.fingerprint} is SUSPENDED; a verifier that is not ACTIVE gets no new keys")
    net.refuse(gone, "GetDataKeys", mid, status=403, match="is SUSPENDED; only ACTIVE verifiers receive data keys")


def test_no_verifier_is_eligible_before_the_assignment(net: Net, confidential):
    mid, v = confidential["model_id"], Cast.org2_verifiers[0]
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, v), status=403, match="recipient:")
    net.refuse(v, "GetDataKeys", mid, status=403, match="not assigned: verifier")


def test_a_restaffed_newcomer_becomes_eligible_and_the_replaced_verifier_does_not(net: Net, confidential, assigned):
    mid = confidential["model_id"]
    (i, before), = replays({"intervals": [r for r in net.call(Cast.client1, "GetAssignment", mid)["intervals"]
                                          if r["decision"] is None]}).items()
    net.advance(DAY)
    out = net.call(Cast.admin2, "ExpireAssignment", mid)
    after = set(fp for a in out["assignments"] for fp in a["verifiers"])
    assert len(before) == 2 and after == set(v.fingerprint for v in Cast.org2_verifiers) - set(before)  # fresh ones
    newcomer = BY_FP[sorted(after)[0]]
    net.refuse(newcomer, "GetDataKeys", mid, status=404,
               match="not delivered yet: the submitter delivers keys after assignment")
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, newcomer))
    assert net.call(newcomer, "GetDataKeys", mid)["role"] == "verifier"
    # A replaced verifier keeps access only through a seat on another interval (a score check it settled).
    for fp in before:
        elsewhere = any(fp in q for j, q in assigned.items() if j != i)
        if elsewhere:
            net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, BY_FP[fp]))
        else:
            net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, BY_FP[fp]), status=403,
                       match="recipient:")
            net.refuse(BY_FP[fp], "GetDataKeys", mid, status=403, match="not assigned: verifier")


def test_only_sealed_artifacts_and_wellformed_wrappings(net: Net, confidential, assigned):
    mid, me = confidential["model_id"], assigned_parties(assigned)[0]
    net.refuse(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, me, artifacts=[sha("other")]), status=400,
               match=f"artifact: {sha('other')} is not the plaintext sha256 of one of model {mid}'s 6 sealed")
    good = delivery(confidential, me)
    art = sealed_shas(confidential)[0]

    def with_wrapped(**change) -> dict:
        body = copy.deepcopy(good)
        body["keys"][me.fingerprint][art].update(change)
        return body

    wrapped = good["keys"][me.fingerprint][art]
    not_on_curve = base64.b64encode(b"\x04" + b"\x00" * 64).decode()
    # The same 65 bytes with the last character's two padding bits set: base64 that decodes alike.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    padded = wrapped["epk"][:-2] + alphabet[alphabet.index(wrapped["epk"][-2]) ^ 1] + "="
    assert base64.b64decode(padded) == base64.b64decode(wrapped["epk"])
    crowd = {os.urandom(32).hex(): {art: wrapped} for _ in range(65)}
    for body, match in [
        (with_wrapped(epk=not_on_curve), "wrapped key: keys/"),
        (with_wrapped(epk=padded), "epk is not the canonical base64 of 65 bytes"),
        (with_wrapped(v=2), "schema data_keys"),
        (with_wrapped(ct="!" * 64), "schema data_keys"),
        (with_wrapped(extra="x"), "schema data_keys"),
        ({"keys": {}}, "schema data_keys"),
        ({"keys": {"ab": {art: wrapped}}}, "schema data_keys"),
        ({"keys": {me.fingerprint: {}}}, "schema data_keys"),
        ({"keys": crowd}, "schema data_keys"),
        ("{not json", "delivery"),
    ]:
        net.refuse(Cast.client1, "DeliverDataKeys", mid, body, status=400, match=match)
    net.refuse(Cast.client1, "DeliverDataKeys", mid, status=400, match="arguments: expected 2")
    net.refuse(Cast.client1, "DeliverDataKeys", "nope", good, status=400, match="model id")


def test_a_model_that_is_not_confidential_has_no_keys(net: Net, submitted):
    mid = submitted["model_id"]
    net.refuse(Cast.client1, "DeliverDataKeys", mid, {"keys": {}}, status=409, match="not confidential: model")
    net.refuse(Cast.client1, "GrantAccess", mid, {"fingerprint": sha("x"), "mspid": "Org2MSP"}, status=409,
               match="not confidential")
    net.refuse(Cast.org2_verifiers[0], "GetDataKeys", mid, status=409, match="not confidential")
    assert net.call(Cast.client2, "ListGrants", mid)["confidential"] is False
    unknown = model_payload()["model_id"]
    for function, args in (("DeliverDataKeys", [unknown, "{}"]), ("GetDataKeys", [unknown]), ("ListGrants", [unknown])):
        net.refuse(Cast.client1, function, *args, status=404, match="unknown model")


# --- GetDataKeys --------------------------------------------------------------------------------

def test_get_data_keys_refuses_everyone_else_with_the_reason(net: Net, confidential, assigned):
    mid, parties = confidential["model_id"], assigned_parties(assigned)
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, *parties))
    outsider = next(v for v in BY_FP.values() if v not in parties)
    net.refuse(outsider, "GetDataKeys", mid, status=403, match=f"not assigned: verifier {outsider.fingerprint}")
    for admin in (Cast.admin1, Cast.admin2):
        net.refuse(admin, "GetDataKeys", mid, status=403, match="is an MSP admin; data keys go to the assigned verifiers")
    net.refuse(Cast.client2, "GetDataKeys", mid, status=403, match="not granted: caller")
    net.refuse(READER, "GetDataKeys", mid, status=403, match="not granted: caller")
    net.refuse(Cast.client1, "GetDataKeys", mid, status=404, match="not delivered yet: the submitter delivers keys to")


def test_an_assigned_verifier_waits_for_delivery(net: Net, confidential, assigned):
    me = assigned_parties(assigned)[0]
    net.refuse(me, "GetDataKeys", confidential["model_id"], status=404,
               match="not delivered yet: the submitter delivers keys after assignment")


def test_key_queries_write_nothing(net: Net, confidential, assigned):
    mid, me = confidential["model_id"], assigned_parties(assigned)[0]
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, me))
    before = net.ledger.snapshot()
    for who, function in ((me, "GetDataKeys"), (Cast.client2, "ListGrants")):
        endorsement = net.ledger.endorse(handle, who.creator, function, [mid.encode()])
        assert endorsement.error is None and endorsement.stub.writes == {} and endorsement.stub.event is None
    assert net.ledger.snapshot() == before


# --- GrantAccess --------------------------------------------------------------------------------

def test_a_granted_identity_reads_and_unwraps_its_keys(net: Net, confidential):
    mid = confidential["model_id"]
    grant = net.call(Cast.client1, "GrantAccess", mid, {"cert_pem": READER.pem, "mspid": "Org2MSP", "note": "audit"})
    assert grant["fingerprint"] == READER.fingerprint and grant["common_name"] == "auditor@org2.example.com"
    name, event = net.last_event()
    assert name == "AccessGranted" and event["grantee"]["fingerprint"] == READER.fingerprint and event["has_cert"]
    assert [g["fingerprint"] for g in net.call(Cast.client2, "ListGrants", mid)["grants"]] == [READER.fingerprint]
    net.refuse(READER, "GetDataKeys", mid, status=404, match="not delivered yet: the submitter delivers keys to")
    data_key = os.urandom(32)
    art = confidential["dataset"]["sha256"]
    body = {"keys": {READER.fingerprint: {art: wrapped_for(READER, confidential, art, data_key)}}}
    net.call(Cast.client1, "DeliverDataKeys", mid, body)
    got = net.call(READER, "GetDataKeys", mid)
    assert got["role"] == "grantee" and got["grant"]["note"] == "audit" and len(got["missing"]) == 5
    cert = load_certificate(READER.pem)
    assert unwrap(got["keys"][art], READER_KEY, cert, mid, art) == data_key


def test_a_grant_by_fingerprint_must_match_the_callers_org(net: Net, confidential):
    mid = confidential["model_id"]
    net.call(Cast.client1, "GrantAccess", mid, {"fingerprint": Cast.client2.fingerprint, "mspid": "Org1MSP"})
    net.call(Cast.client1, "DeliverDataKeys", mid, delivery(confidential, Cast.client2))
    net.refuse(Cast.client2, "GetDataKeys", mid, status=403, match="not granted")  # Org2's identity, granted as Org1's


def test_grant_access_rules(net: Net, confidential):
    mid = confidential["model_id"]
    body = {"cert_pem": Cast.client2.pem, "mspid": "Org2MSP"}
    for who in (Cast.client2, Cast.admin1, Cast.org2_verifiers[0]):
        net.refuse(who, "GrantAccess", mid, body, status=403, match="role: only the submitter")
    for bad, status, match in [
        ({"cert_pem": Cast.admin2.pem, "mspid": "Org2MSP"}, 400, "is an MSP admin (OU=admin); grant a client identity"),
        ({"cert_pem": Cast.client2.pem, "mspid": "Org9MSP"}, 400, "grant: 'Org9MSP' is not a member org"),
        ({"cert_pem": "garbage", "mspid": "Org2MSP"}, 400, "grant: cert_pem is not a valid X.509 PEM certificate"),
        ({"cert_pem": Cast.client2.pem, "fingerprint": Cast.client2.fingerprint, "mspid": "Org2MSP"}, 400,
         "schema data_grant"),
        ({"mspid": "Org2MSP"}, 400, "schema data_grant"),
        ({"fingerprint": "AB", "mspid": "Org2MSP"}, 400, "schema data_grant"),
        ({"fingerprint": sha("x"), "mspid": "Org2MSP", "note": "bell\u0007"}, 400, "text: grant/note"),
        ({"fingerprint": Cast.client1.fingerprint, "mspid": "Org1MSP"}, 409, "is the submitter, which needs no grant"),
    ]:
        net.refuse(Cast.client1, "GrantAccess", mid, bad, status=status, match=match)
    net.call(Cast.client1, "GrantAccess", mid, body)
    net.refuse(Cast.client1, "GrantAccess", mid, {"fingerprint": Cast.client2.fingerprint, "mspid": "Org2MSP"},
               status=409, match="duplicate:")


def test_a_verifier_decrypts_after_assignment_end_to_end(bare_net: Net):
    """A verifier whose key the test holds: registered, assigned, delivered to, unwraps."""
    net = bare_net
    me, my_key = keyed_party("Org2MSP", "keyed-verifier@org2.example.com")
    for v in Cast.org2_verifiers[:2]:
        net.register_verifier(Cast.admin2, v)
    net.register_verifier(Cast.admin2, me)  # three eligible: every quorum holds all of them
    net.set_config({"replication": "full"})
    payload = sealed_payload(model_payload(intervals=3), dataset=True, snapshots=[])
    net.call(Cast.client1, "SubmitModel", payload)
    out = net.call(Cast.admin2, "AssignVerifiers", payload["model_id"])
    assert all(me.fingerprint in r["verifiers"] for r in out["intervals"])
    data_key, art = os.urandom(32), payload["dataset"]["sha256"]
    net.call(Cast.client1, "DeliverDataKeys", payload["model_id"],
             {"keys": {me.fingerprint: {art: wrapped_for(me, payload, art, data_key)}}})
    got = net.call(me, "GetDataKeys", payload["model_id"])
    assert unwrap(got["keys"][art], my_key, load_certificate(me.pem), payload["model_id"], art) == data_key
    ev = {**evidence(), "replay_sha256": payload["snapshots"][out["intervals"][0]["interval"] + 1]["sha256"]}
    net.call(me, "SubmitVote", payload["model_id"], str(out["intervals"][0]["interval"]), "ACCEPT", ev)
