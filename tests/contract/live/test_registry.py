"""The verifier registry on the live network: RegisterVerifier, SetVerifierStatus, ListVerifiers.

`make network-up` registered the profile's verifiers (org1-verifier1…, org2-verifier1…; three
per org by default) and their workers are running. These tests never register a new verifier: one without a worker
would be drawn into other engineers' sub-quorums and leave their models waiting for a vote that
never comes. Registration is therefore shown through the registry network-up built and through
every refusal, each followed by reading the registry back unchanged.

Suspension is global as well. ``test_suspend_and_reactivate`` suspends org1-verifier3 (models
from Org1 clients, most of the traffic, are staffed from Org2) for about a second and restores
it to ACTIVE in a ``finally``, whatever happens. While it is suspended, other engineers' new
assignments simply draw someone else, and a vote its worker sends in that second is refused.
"""
from __future__ import annotations

import json

import pytest

from tests.contract.factories import party
from tests.contract.live.conftest import UNKNOWN_MODEL, Live, unique_name
from trainproof.gateway import EndorseError

pytestmark = pytest.mark.contract

def registry(live: Live) -> dict[str, dict]:
    return {v["fingerprint"]: v for v in live.query("ListVerifiers")["verifiers"]}


def pem(live: Live, who: str) -> str:
    return live.profile.identity_files(who).cert.read_text()


def test_network_up_registered_every_profile_verifier(live):
    records = registry(live)
    assert len(live.identities("verifier", "Org1MSP")) >= 1 and len(live.identities("verifier", "Org2MSP")) >= 3
    for who in live.identities("verifier"):
        record = records.get(live.fingerprint(who))
        assert record is not None, f"{who} is not registered"
        assert record["status"] == "ACTIVE", record
        assert record["mspid"] == live.mspid(who)
        assert record["cert_pem"].strip() == pem(live, who).strip()
        assert "client" in record["ous"] and "admin" not in record["ous"]
        # registered by its own org's admin
        assert record["registered_by"]["mspid"] == record["mspid"]
        assert record["registered_by"]["fingerprint"] == live.fingerprint(f"{who.split('-')[0]}-admin")

    # filters: each answer holds exactly the records that match
    for query in ({"mspid": "Org2MSP"}, {"status": "ACTIVE"}, {"status": "ACTIVE", "mspid": "Org1MSP"}):
        listed = live.query("ListVerifiers", query)["verifiers"]
        assert all(all(v[k] == want for k, want in query.items()) for v in listed), query
        expected = {fp for fp, v in registry(live).items() if all(v[k] == want for k, want in query.items())}
        assert {v["fingerprint"] for v in listed} == expected
    live.refuse("org1-user1", "ListVerifiers", {"status": "RETIRED"}, status=400, match="filter")
    live.refuse("org1-user1", "ListVerifiers", {"colour": "red"}, status=400, match="unknown field")


# A certificate no one registered: were a refusal wrong, it would show up in the registry.
FRESH = party("Org1MSP", "fresh@org1.example.com", "client")
FRESH2 = party("Org2MSP", "fresh@org2.example.com", "client")


def registration_cases(live: Live) -> list[tuple[str, str, list, int, str]]:
    """(case, caller, arguments, status, message fragment)."""
    v1 = pem(live, "org1-verifier1")
    return [
        ("re-register own verifier", "org1-admin", [{"cert_pem": v1, "name": "again"}], 409, "duplicate"),
        ("re-register, mspid given", "org1-admin", [{"cert_pem": v1, "name": "again", "mspid": "Org1MSP"}], 409,
         "already registered"),
        ("other org re-registers it", "org2-admin", [{"cert_pem": v1, "name": "again"}], 409, "duplicate"),
        ("client registers", "org1-user1", [{"cert_pem": FRESH.pem, "name": "fresh"}], 403, "not an MSP admin"),
        ("verifier registers", "org1-verifier1", [{"cert_pem": FRESH.pem, "name": "fresh"}], 403, "role"),
        ("admin registers for other org", "org2-admin", [{"cert_pem": FRESH.pem, "name": "fresh", "mspid": "Org1MSP"}],
         403, "own org only"),
        ("malformed JSON", "org2-admin", ['{"cert_pem": '], 400, "not valid JSON"),
        ("not an object", "org2-admin", [[FRESH2.pem]], 400, "must be a JSON object"),
        ("missing name", "org2-admin", [{"cert_pem": FRESH2.pem}], 400, "'name' is a required property"),
        ("wrong type", "org2-admin", [{"cert_pem": FRESH2.pem, "name": 7}], 400, "schema"),
        ("unknown field", "org2-admin", [{"cert_pem": FRESH2.pem, "name": "x", "role": "boss"}], 400, "schema"),
        ("not a certificate", "org2-admin", [{"cert_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n", "name": "x"}], 400,
         "not a valid X.509"),
        ("no argument", "org2-admin", [], 400, "arguments"),
        ("two arguments", "org2-admin", [{"cert_pem": FRESH2.pem, "name": "x"}, "{}"], 400, "arguments"),
        ("over 1 MiB", "org2-admin", [json.dumps({"cert_pem": FRESH2.pem, "name": "x"}) + " " * (1 << 20)], 413,
         "size limit"),
    ]


def test_registration_refusals_leave_the_registry_unchanged(live):
    before = registry(live)
    start = live.height()
    refused = []
    for case, who, args, status, match in registration_cases(live):
        try:
            refused.append(live.refuse(who, "RegisterVerifier", *args, status=status, match=match).tx_id)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
    after = registry(live)
    for who in live.identities("verifier"):  # untouched, down to the transaction that last wrote them
        fp = live.fingerprint(who)
        assert after[fp] == before[fp], who
    assert FRESH.fingerprint not in after and FRESH2.fingerprint not in after
    assert not set(refused) & live.tx_ids(start, live.height()), "a refused proposal reached the ledger"


def test_suspend_and_reactivate(live):
    target = "org1-verifier3"
    fp = live.fingerprint(target)
    before = registry(live)[fp]
    assert before["status"] == "ACTIVE", f"{target} is {before['status']} before the test: restore it first"

    # Refusals while it is ACTIVE: wrong caller, wrong arguments, no change.
    live.refuse("org2-admin", "SetVerifierStatus", fp, "SUSPENDED", status=403, match="own org only")
    live.refuse("org1-user1", "SetVerifierStatus", fp, "SUSPENDED", status=403, match="not an MSP admin")
    live.refuse(target, "SetVerifierStatus", fp, "SUSPENDED", status=403, match="not an MSP admin")
    live.refuse("org1-admin", "SetVerifierStatus", fp, "PAUSED", status=400, match="is not one of")
    live.refuse("org1-admin", "SetVerifierStatus", fp, "ACTIVE", status=409, match="no change")
    live.refuse("org1-admin", "SetVerifierStatus", "0" * 64, "SUSPENDED", status=404, match="unknown verifier")
    live.refuse("org1-admin", "SetVerifierStatus", fp.upper(), "SUSPENDED", status=400, match="fingerprint")
    live.refuse("org1-admin", "SetVerifierStatus", fp, "SUSPENDED", "x" * 2049, status=400, match="reason")
    live.refuse("org1-admin", "SetVerifierStatus", fp, status=400, match="arguments")
    assert registry(live)[fp] == before

    some_model = live.query("ListModels", {"page_size": 1})["models"]
    reason = f"{unique_name('suspend')}: maintenance"
    try:
        suspended, tx = live.submit_tx("org1-admin", "SetVerifierStatus", fp, "SUSPENDED", reason)
        assert suspended["status"] == "SUSPENDED" and suspended["reason"] == reason
        assert suspended["updated_tx"] == tx
        unchanged = ("fingerprint", "mspid", "cert_pem", "name", "registered_by", "registered_tx", "registered_at")
        assert {k: suspended[k] for k in unchanged} == {k: before[k] for k in unchanged}
        assert registry(live)[fp] == suspended
        listed = {v["fingerprint"] for v in live.query("ListVerifiers", {"status": "SUSPENDED", "mspid": "Org1MSP"})["verifiers"]}
        assert fp in listed
        assert fp not in {v["fingerprint"] for v in live.query("ListVerifiers", {"status": "ACTIVE"})["verifiers"]}

        # A suspended verifier may neither vote nor assign.
        evidence = {"distances": {"l2": 0.0}, "replay_sha256": "0" * 64}
        live.refuse(target, "SubmitVote", UNKNOWN_MODEL, "0", "ACCEPT", evidence, status=403, match="is SUSPENDED")
        if some_model:
            live.refuse(target, "AssignVerifiers", some_model[0]["model_id"], status=403,
                        match="neither an MSP admin nor an active registered verifier")
        live.refuse("org1-admin", "SetVerifierStatus", fp, "SUSPENDED", status=409, match="no change")
    finally:  # restore, whatever happened above
        try:
            live.submit("org1-admin", "SetVerifierStatus", fp, "ACTIVE")
        except EndorseError as exc:
            if "no change" not in exc.chaincode_message:  # already ACTIVE is fine
                raise
    restored = registry(live)[fp]
    assert restored["status"] == "ACTIVE" and restored["reason"] is None and restored["updated_tx"] != tx
    assert {k: v for k, v in restored.items() if k not in ("updated_tx", "updated_at")} == \
        {k: v for k, v in before.items() if k not in ("updated_tx", "updated_at")}

