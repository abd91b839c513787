"""Confidential models end to end (issue 18): sealed before upload, keys delivered to the assigned
verifiers only, verdicts through the real workers, refusals on the live network.

The submitter here is org2-user1, so that org1-user1 — the identity the explorer reads the
ledger as (``make network-up``) — is a client of another org, and is refused like any other.
"""
from __future__ import annotations

import hashlib
import io
import secrets
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from trainproof.confidential import keywrap
from trainproof.confidential.artifacts import deliver, deliver_to_assigned, my_keys, sealed_entries
from trainproof.contract import NotFound, Refused, TrainproofContract
from trainproof.storage import ArtifactStore
from trainproof.storage.sealing import new_key, seal
from trainproof.submission import build_certificate, read_run, submit_certificate, submit_run, wait_for_verdict

pytestmark = pytest.mark.e2e
SUBMITTER = "org2-user1"


@pytest.fixture(scope="module")
def org2(profile, connect):
    gateway = connect(SUBMITTER)
    contract = gateway.get_network(profile.channel).get_contract(profile.chaincode)
    with ArtifactStore.from_state(role="submitter", org="org2") as store:
        yield contract, store


def ledger_as(connect, profile, name: str) -> TrainproofContract:
    return TrainproofContract(connect(name).get_network(profile.channel).get_contract(profile.chaincode))


def train(tmp_path: Path, label: str, **kwargs) -> Path:
    from demo.digits import train_digits

    run_dir = tmp_path / label
    train_digits(run_dir, intervals=kwargs.pop("intervals", 6), steps_per_interval=10,
                 seed=secrets.randbelow(2 ** 31 - 2) + 1, name=f"e2e-confidential-{label}", **kwargs)
    return run_dir


def wait_assigned(ledger: TrainproofContract, model_id: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while ledger.model_state(model_id)["status"] == "SUBMITTED":
        assert time.monotonic() < deadline, f"model {model_id} was never assigned"
        time.sleep(0.5)


def submit_confidential(org2, profile, run_dir: Path) -> tuple[str, dict, dict[str, bytes]]:
    """What `trainproof submit --confidential all` does: seal, submit, deliver to itself and then
    to the verifiers the contract assigned."""
    contract, store = org2
    done = submit_run(run_dir, contract, store, confidential=("dataset", "snapshots"))
    ledger = TrainproofContract(contract)
    me = keywrap.load_certificate(profile.identity_files(SUBMITTER).cert.read_bytes())
    deliver(ledger, done.model_id, done.keys, [me])
    wait_assigned(ledger, done.model_id)
    deliver_to_assigned(ledger, done.model_id, done.keys)
    return done.model_id, done.certificate, done.keys


def test_a_confidential_honest_model_is_verified_and_storage_holds_only_ciphertext(org2, profile, connect, tmp_path):
    run_dir = train(tmp_path, "honest")
    model_id, cert, keys = submit_confidential(org2, profile, run_dir)
    assert set(keys) == {cert["dataset"]["sha256"], *(s["sha256"] for s in cert["snapshots"])}
    state = wait_for_verdict(org2[0], model_id, timeout=300)
    assert state["status"] == "VERIFIED", state
    votes = TrainproofContract(org2[0]).get_votes(model_id)
    replayed = [v for v in votes if v["evidence"]["details"].get("mode") != "scores"]
    assert votes and all(v["verdict"] == "ACCEPT" for v in votes)
    assert replayed and all(v["evidence"]["details"]["exact"] for v in replayed)
    # The objects in MinIO are ciphertext: no 64-byte window of the dataset's plaintext occurs in them.
    run, files = read_run(run_dir)
    plain = next(f for f in files if f.label == "dataset").path.read_bytes()
    windows = {plain[i:i + 64] for i in range(0, len(plain) - 64)}
    stored = tmp_path / "stored"
    sealed = sealed_entries(cert)[cert["dataset"]["sha256"]]
    org2[1].get_file(cert["dataset"]["uri"], sealed["sha256"], stored, expected_size=sealed["size"])
    blob = stored.read_bytes()
    assert blob != plain and not any(blob[i:i + 64] in windows for i in range(0, len(blob) - 64))
    # The submitter itself opens its own artifacts with the key delivered to it.
    mine = my_keys(TrainproofContract(org2[0]), model_id, profile.identity_files(SUBMITTER))
    assert mine == keys


def test_a_confidential_poisoned_model_is_rejected(org2, profile, tmp_path):
    run_dir = train(tmp_path, "poisoned", poison_intervals=list(range(6)), poison_fraction=1.0)
    model_id, _, _ = submit_confidential(org2, profile, run_dir)
    state = wait_for_verdict(org2[0], model_id, timeout=300)
    assert state["status"] == "REJECTED", state


def test_only_the_assigned_verifiers_and_the_submitter_get_the_keys(org2, profile, connect, tmp_path):
    run_dir = train(tmp_path, "refusals")
    model_id, _, keys = submit_confidential(org2, profile, run_dir)
    submitter_ledger = TrainproofContract(org2[0])
    assigned = set(deliver_to_assigned(submitter_ledger, model_id, keys))  # again: the same verifiers
    verifiers = {n: f for n, f in profile.identities.items() if f.role == "verifier"}
    outsider = next(n for n, f in verifiers.items() if keywrap.fingerprint(keywrap.load_certificate(f.cert.read_bytes()))
                    not in assigned)
    insider = next(n for n, f in verifiers.items() if keywrap.fingerprint(keywrap.load_certificate(f.cert.read_bytes()))
                   in assigned)
    assert my_keys(ledger_as(connect, profile, insider), model_id, profile.identity_files(insider)) == keys
    for name, status, rule in ((outsider, 403, "not assigned"), ("org1-user1", 403, "not granted"),
                               ("org1-admin", 403, "admin"), ("org2-admin", 403, "admin")):
        with pytest.raises(Refused) as refused:
            ledger_as(connect, profile, name).get_data_keys(model_id)
        assert refused.value.status == status and rule in refused.value.reason, (name, refused.value.reason)
    # A key wrapped to one identity does not open for another, whoever reads it off the block.
    wrapped = ledger_as(connect, profile, insider).get_data_keys(model_id)["keys"]
    sha, one = next(iter(wrapped.items()))
    other = profile.identity_files(outsider)
    with pytest.raises(keywrap.KeyWrapError):
        keywrap.unwrap(one, keywrap.load_private_key(other.key), keywrap.load_certificate(other.cert.read_bytes()),
                       model_id, sha)
    # A grant lets another org's client read; the explorer's identity is refused until then.
    grantee = profile.identity_files("org1-user1")
    submitter_ledger.grant_access(model_id, grantee.mspid, cert_pem=grantee.cert.read_text())
    deliver(submitter_ledger, model_id, keys, [keywrap.load_certificate(grantee.cert.read_bytes())])
    assert my_keys(ledger_as(connect, profile, "org1-user1"), model_id, grantee) == keys
    assert wait_for_verdict(org2[0], model_id, timeout=300)["status"] == "VERIFIED"
    # The submitter and the grantee attest its outputs: their keys open the sealed final snapshot.
    import numpy as np

    from trainproof.attestation import receipt as receipts
    from trainproof.attestation.attest import AttestError, attest
    from trainproof.confidential.artifacts import KeyStore

    sample = np.full((1, 64), 0.25, dtype=np.float32)
    for name, org in ((SUBMITTER, "org2"), ("org1-user1", "org1")):
        contract = connect(name).get_network(profile.channel).get_contract(profile.chaincode)
        with ArtifactStore.from_state(role="submitter", org=org) as store:
            done = attest(contract, store, model_id, sample, identity=profile.identity_files(name),
                          key_store=KeyStore(tmp_path / "home", name))
        assert receipts.verify(done.receipt, sample[0], done.outputs[0]).ok
        batch = TrainproofContract(contract).get_attestation(done.attestation_id)["batch"]
        assert "sealed" in batch and KeyStore(tmp_path / "home", name).batch_key(batch["sha256"]) is not None
    with pytest.raises(AttestError, match="confidential"):
        attest(org2[0], org2[1], model_id, sample)


def test_tampered_ciphertext_is_rejected_naming_the_artifact(org2, profile, tmp_path):
    """A snapshot whose stored ciphertext has one flipped byte (its hash on the ledger is the
    tampered object's, so storage hands it over): GCM refuses it, the verifiers vote REJECT."""
    from trainproof.storage import SNAPSHOTS

    contract, store = org2
    run_dir = train(tmp_path, "tampered", intervals=2)
    run, files = read_run(run_dir)
    uris, sealed, keys = {}, {"snapshots": []}, {}
    for f in files:
        key = new_key()
        if f.label == "dataset":
            uris[f.label] = store.put_file(f.path, f.bucket).uri
            continue
        sink = io.BytesIO()
        with open(f.path, "rb") as source:
            seal(source, sink, key)
        blob = bytearray(sink.getvalue())
        if f.label != "snapshot 0":
            blob[40] ^= 0x01  # inside the first chunk's ciphertext
        out = tmp_path / f"{f.label.replace(' ', '-')}.sealed"
        out.write_bytes(bytes(blob))
        artifact = store.put_file(out, SNAPSHOTS)
        uris[f.label] = artifact.uri
        keys[f.sha256] = key
        sealed["snapshots"].append({"index": int(f.label.split()[1]), "sha256": artifact.sha256, "size": artifact.size})
    cert = build_certificate(run, uris, model_id=str(uuid.uuid4()), name="e2e-confidential-tampered")
    cert["confidential"] = sealed
    _, state = submit_certificate(contract, cert)
    ledger = TrainproofContract(contract)
    wait_assigned(ledger, cert["model_id"])
    deliver_to_assigned(ledger, cert["model_id"], keys)
    state = wait_for_verdict(contract, cert["model_id"], timeout=300)
    assert state["status"] == "REJECTED", state
    reasons = " ".join(v["evidence"].get("reason", "") for v in ledger.get_votes(cert["model_id"]))
    assert "unusable submission: snapshot" in reasons and "chunk 0" in reasons, reasons


def test_keys_not_delivered_leave_no_verdict_but_refusals_say_why(org2, profile, connect, tmp_path):
    contract, store = org2
    done = submit_run(train(tmp_path, "withheld", intervals=2), contract, store, confidential=("snapshots",))
    wait_assigned(TrainproofContract(contract), done.model_id)
    assigned = TrainproofContract(contract).get_assignment(done.model_id)["intervals"][0]["verifiers"][0]
    name = next(n for n, f in profile.identities.items()
                if f.role == "verifier" and keywrap.fingerprint(keywrap.load_certificate(f.cert.read_bytes())) == assigned)
    with pytest.raises(NotFound, match="not delivered yet"):
        ledger_as(connect, profile, name).get_data_keys(done.model_id)
    time.sleep(5)
    assert TrainproofContract(contract).get_votes(done.model_id) == [], "a verifier voted without the keys"


SHORT_DEADLINE = 60  # s, the least the consortium may set: one re-staffing stamped past it stays inside the peers' skew


def test_a_restaffed_interval_gives_its_newcomers_the_keys_and_a_suspended_verifier_none(org2, profile, connect,
                                                                                          tmp_path):
    """Issue 18's lifecycle on the live network: the round-0 verifiers get no keys and stay silent,
    ExpireAssignment (stamped just past the short deadline) re-staffs the interval, and the key
    agent delivers to the newcomers, who open the sealed artifacts and verify the model; a
    newcomer suspended before the delivery is refused new keys, with the reason."""
    from tests.contract.live.conftest import Live

    from trainproof.confidential.artifacts import KeyAgent, KeyStore, assigned_now, fetch

    live = Live(profile, connect)
    contract, store = org2
    ledger = TrainproofContract(contract)
    run_dir = train(tmp_path, "restaffed", intervals=2)  # one interval is selected
    before = live.query("GetConfig")["values"]
    try:
        # Every seat at once: with majority-first, one suspended newcomer of two leaves no majority.
        live.set_config({"deadline_seconds": SHORT_DEADLINE, "replication": "full"})
        done = submit_run(run_dir, contract, store, confidential=("dataset", "snapshots"))
        wait_assigned(ledger, done.model_id)
    finally:
        live.set_config({"deadline_seconds": before["deadline_seconds"], "replication": before["replication"]})
    mid, cert, keys = done.model_id, done.certificate, done.keys
    agent = KeyAgent(ledger, KeyStore(tmp_path / "home", SUBMITTER))
    agent.store.save(mid, keys)
    records0 = live.assignment(mid)["intervals"]  # the replayed interval and the other's score check
    (round0,) = [r for r in records0 if r["kind"] == "replay"]
    assert all(r["deadline"] == r["assigned_at"] + SHORT_DEADLINE and r["round"] == 0 for r in records0)
    by_fp = {keywrap.fingerprint(keywrap.load_certificate(f.cert.read_bytes())): n
             for n, f in profile.identities.items() if f.role == "verifier"}
    first = by_fp[round0["verifiers"][0]]
    with pytest.raises(NotFound, match="not delivered yet"):  # no keys yet: the workers wait, nobody votes
        ledger_as(connect, profile, first).get_data_keys(mid)

    result, _ = live.submit_tx("org1-admin", "ExpireAssignment", mid, timestamp=round0["deadline"] + 1, attempts=1)
    assert result["status"] == "ASSIGNED" and result["decided"] == [], result
    records1 = {r["interval"]: r for r in live.assignment(mid)["intervals"]}
    round1 = records1[round0["interval"]]
    now = set(assigned_now(ledger, mid))
    assert all(r["round"] == 1 for r in records1.values()) and now == {fp for r in records1.values() for fp in r["verifiers"]}
    newcomers = sorted(set(round1["verifiers"]) - set(round0["verifiers"]))
    assert len(newcomers) >= 2, round1  # fresh faces first: at least two, so one can be suspended
    # Replaced everywhere: both round-0 sub-quorums are 3 of the other org's 5 verifiers, so they share
    # one, and each re-staffing seats the other org's remaining two first.
    replaced = sorted({fp for r in records0 for fp in r["verifiers"]} - now)
    assert replaced, (records0, records1)
    with pytest.raises(Refused) as refused:  # a replaced verifier is no longer assigned
        ledger_as(connect, profile, by_fp[replaced[0]]).get_data_keys(mid)
    assert refused.value.status == 403 and "not assigned" in refused.value.reason, refused.value.reason

    gone, kept = by_fp[newcomers[0]], by_fp[newcomers[1]]
    gone_admin = "org1-admin" if profile.identity_files(gone).mspid == "Org1MSP" else "org2-admin"
    live.submit(gone_admin, "SetVerifierStatus", newcomers[0], "SUSPENDED", "e2e: suspended before its keys")
    try:
        gone_cert = keywrap.load_certificate(profile.identity_files(gone).cert.read_bytes())
        with pytest.raises(Refused) as refused:
            deliver(ledger, mid, keys, [gone_cert])
        assert refused.value.status == 403, refused.value.reason
        assert f"verifier {newcomers[0]} is SUSPENDED; a verifier that is not ACTIVE gets no new keys" in \
            refused.value.reason, refused.value.reason

        delivered = agent.run_once()[mid]
        assert set(delivered) == now - {newcomers[0]}
        with pytest.raises(Refused) as refused:
            ledger_as(connect, profile, gone).get_data_keys(mid)
        assert refused.value.status == 403 and "is SUSPENDED; only ACTIVE verifiers receive data keys" in \
            refused.value.reason, refused.value.reason

        # The newcomer opens a sealed artifact with its own keys: exactly the committed plaintext.
        theirs = my_keys(ledger_as(connect, profile, kept), mid, profile.identity_files(kept))
        assert theirs == keys
        snapshot = next(s for s in cert["snapshots"] if s["index"] == round1["interval"] + 1)
        kept_org = "org1" if profile.identity_files(kept).mspid == "Org1MSP" else "org2"
        with ArtifactStore.from_state(role="verifier", org=kept_org) as reader:
            opened = fetch(reader, theirs, cert, snapshot, tmp_path / "opened.bin")
        assert hashlib.sha256(opened.read_bytes()).hexdigest() == snapshot["sha256"]
        # The two ACTIVE newcomers replay and vote: a majority of the round-1 sub-quorum.
        state = wait_for_verdict(contract, mid, timeout=300)
        assert state["status"] == "VERIFIED", state
        votes = ledger.get_votes(mid)
        assert all(v["verifier"]["fingerprint"] in set(records1[v["interval"]]["verifiers"]) - {newcomers[0]}
                   for v in votes), votes
        assert votes and all(v["round"] == 1 for v in votes), votes
    finally:
        live.submit(gone_admin, "SetVerifierStatus", newcomers[0], "ACTIVE")


def test_an_audited_attestation_of_a_confidential_model_is_checked_with_the_delivered_final_key(
        org2, profile, connect, tmp_path):
    """Issues 17 and 18 together: the audit draws a verifier for an attestation of a sealed model;
    the submitter's key agent delivers it the final snapshot's key (only that one) and the sealed
    batch file's key, and the worker opens both, recomputes and confirms."""
    from tests.e2e.conftest import set_attest_audit_fraction, wait_for_audit

    from trainproof.attestation.attest import attest
    from trainproof.confidential.artifacts import KeyAgent, KeyStore

    contract, store = org2
    ledger = TrainproofContract(contract)
    model_id, _, keys = submit_confidential(org2, profile, train(tmp_path, "attested", intervals=3))
    assert wait_for_verdict(contract, model_id, timeout=300)["status"] == "VERIFIED"
    agent = KeyAgent(ledger, KeyStore(tmp_path / "home", SUBMITTER))
    agent.store.save(model_id, keys)
    inputs = (np.random.default_rng(5).random((4, 64))).astype(np.float32)
    before = ledger.get_config()["values"]["attest_audit_fraction"]
    set_attest_audit_fraction(connect, profile, 1.0)
    try:
        attested = attest(contract, store, model_id, inputs, identity=profile.identity_files(SUBMITTER),
                          key_store=agent.store)
    finally:
        set_attest_audit_fraction(connect, profile, before)
    deadline = time.monotonic() + 120
    while ledger.get_attestation(attested.attestation_id)["audit"]["state"] in ("AWAITING_DRAW", "AUDITING"):
        assert time.monotonic() < deadline, ledger.get_attestation(attested.attestation_id)["audit"]
        agent.run_once()
        time.sleep(1)
    record = wait_for_audit(ledger, attested.attestation_id)
    audit = record["audit"]
    assert audit["state"] == "CONFIRMED", audit
    assert "sealed" in record["batch"], "a confidential model's batch file is stored sealed"
    assert audit["check"]["evidence"]["output_root"] == attested.root
    fp = audit["check"]["verifier"]["fingerprint"]
    auditor = ledger_as(connect, profile, next(n for n, f in profile.identities.items() if f.role == "verifier" and
                                               keywrap.fingerprint(keywrap.load_certificate(f.cert.read_bytes())) == fp))
    seated = {v for rec in ledger.get_assignment(model_id)["intervals"] for v in rec["verifiers"]}
    if fp in seated:  # drawn among the model's own verifiers, who hold its keys anyway
        assert auditor.get_data_keys(model_id)["role"] == "verifier"
    else:  # the check is over: so is its right to the key
        with pytest.raises(Refused, match="checks none of its attestations"):
            auditor.get_data_keys(model_id)


def test_a_child_of_a_confidential_parent_is_checked_against_its_sealed_final_weights(org2, profile, connect, tmp_path):
    """A fine-tune of one's own confidential model starts from its final weights in another file
    (the recorder's snapshot 0): the parent's key agent delivers the final snapshot's key to the
    child's interval-0 verifiers, which open it and compare layer by layer. A stranger's child
    declaring the same parent gets no key, and is rejected saying so."""
    from trainproof.confidential.artifacts import KeyAgent, KeyStore

    contract, store = org2
    ledger = TrainproofContract(contract)
    parent_dir = train(tmp_path, "parent", intervals=2)
    parent_id, parent_cert, keys = submit_confidential(org2, profile, parent_dir)
    assert wait_for_verdict(contract, parent_id, timeout=300)["status"] == "VERIFIED"
    agent = KeyAgent(ledger, KeyStore(tmp_path / "home", SUBMITTER))
    agent.store.save(parent_id, keys)
    final = max((parent_dir / "snapshots").glob("*.safetensors"), key=lambda p: int(p.stem))

    own = submit_run(train(tmp_path, "own-child", intervals=2, parent_snapshot=final), contract, store,
                     parent_id=parent_id)
    stranger_contract = connect("org1-user1").get_network(profile.channel).get_contract(profile.chaincode)
    with ArtifactStore.from_state(role="submitter", org="org1") as org1_store:
        stranger = submit_run(train(tmp_path, "stranger-child", intervals=2, parent_snapshot=final),
                              stranger_contract, org1_store, parent_id=parent_id)
    child_cert = ledger.get_model(own.model_id)["certificate"]
    assert child_cert["snapshots"][0]["sha256"] != parent_cert["snapshots"][-1]["sha256"], "the same file needs no key"

    deadline, delivered = time.monotonic() + 300, set()
    while {ledger.model_state(m)["status"] for m in (own.model_id, stranger.model_id)} & {"SUBMITTED", "ASSIGNED"}:
        assert time.monotonic() < deadline, [ledger.model_state(m) for m in (own.model_id, stranger.model_id)]
        delivered |= set(agent.run_once().get(parent_id, []))
        time.sleep(1)
    state = ledger.model_state(own.model_id)
    assert state["status"] == "VERIFIED", state
    lineage_votes = [v for v in ledger.get_votes(own.model_id, 0) if v["verdict"] == "ACCEPT"]
    assert {v["verifier"]["fingerprint"] for v in lineage_votes} <= delivered and lineage_votes
    refused = ledger.model_state(stranger.model_id)
    assert refused["status"] == "REJECTED" and "lineage" in refused["reason"], refused
    assert "neither the submitter" in refused["reason"] and "sealed" in refused["reason"], refused
