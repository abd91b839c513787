"""Issue 15, findings 1 and 2 on the live network: what one hostile org's admin can no longer do.

1. Change the rules alone: a settings change is a proposal that takes effect only when admins of
   enough member orgs approved it, within bounds, every step on the ledger.
2. Enrol certificates into the verifier registry: another org's, a self-signed one, or one
   whose owner did not consent. The registry holds only records a verifier activated itself
   with a transaction whose creator Fabric's MSP validated, and a squatted authorization never
   blocks the real owner.

Nothing here adds a verifier to the registry (one without a worker would be drawn into other
tests' sub-quorums): an activation that must succeed is endorsed by every peer and never
ordered. Refusals are endorsed only (``live.refuse``).
"""
from __future__ import annotations

import datetime
import json
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.contract.live.conftest import Live
from trainproof.gateway import EndorseError, Identity, connect
from trainproof.gateway.identity import fingerprint, signer_from_key

pytestmark = pytest.mark.contract


def registry(live: Live) -> dict[str, dict]:
    return {v["fingerprint"]: v for v in live.query("ListVerifiers")["verifiers"]}


# --- 1. governance ------------------------------------------------------------------------------

def test_one_orgs_admin_cannot_change_the_rules_alone(live):
    before = live.query("GetConfig")
    assert before["members"] == ["Org1MSP", "Org2MSP"]
    # The old one-admin transaction is gone: it would have committed audit_fraction 0.01 alone.
    live.refuse("org1-admin", "SetConfig", {"audit_fraction": 0.01}, status=404, match="unknown transaction")
    # Bounds that keep the system meaningful, whoever approves.
    for change, rule in (({"audit_fraction": 0.01}, "[0.05, 1]"), ({"sub_quorum_size": 1}, "[3, 51]"),
                         ({"sub_quorum_size": 51}, "active verifiers"), ({"k": 100}, "[1, 10]"),
                         ({"deadline_seconds": 1}, "[60, 31536000]"), ({"max_reassignments": 0}, "[1, 10]")):
        live.refuse("org2-admin", "ProposeConfig", change, status=400, match=rule)

    k = before["values"]["k"]
    nudged = k * (1 + 1e-9)  # no selection can notice it
    proposal = live.submit("org1-admin", "ProposeConfig", {"k": nudged}, {"note": "issue 15 test"})
    pid = proposal["proposal_id"]
    try:
        assert proposal["status"] == "PENDING" and proposal["needed"] == 2
        assert [a["mspid"] for a in proposal["approvals"]] == ["Org1MSP"]
        assert live.query("GetConfig") == before  # one org's admin alone changed nothing
        live.refuse("org1-admin", "ApproveConfig", pid, status=409, match="already approved: Org1MSP")
        live.refuse("org2-user1", "ApproveConfig", pid, status=403, match="not an MSP admin")
        assert live.query("GetConfigProposal", pid) == proposal
        assert pid in {p["proposal_id"] for p in live.query("ListConfigProposals", {"status": "PENDING"})["proposals"]}

        applied = live.submit("org2-admin", "ApproveConfig", pid)
        assert applied["status"] == "APPLIED" and [a["mspid"] for a in applied["approvals"]] == ["Org1MSP", "Org2MSP"]
        view = live.query("GetConfig")
        assert view["values"] == {**before["values"], "k": nudged}
        assert view["updated"]["proposal_id"] == pid and view["updated"]["tx_id"] == applied["applied_tx"]
        assert live.query("GetConfigProposal", pid) == applied
        live.refuse("org2-admin", "ApproveConfig", pid, status=409, match="is APPLIED")
    finally:
        if live.query("GetConfig")["values"]["k"] != k:
            live.set_config({"k": k})
    assert live.query("GetConfig")["values"]["k"] == k


# --- 2. verifier identities ---------------------------------------------------------------------

def org_client_cert(live: Live, org: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A fresh client certificate issued by the org's own CA (so Fabric's MSP accepts it), as an
    org enrols a new verifier: (PEM, private key)."""
    ca_dir = next(Path(live.profile.home, "crypto", "peerOrganizations").glob(f"{org}.*")) / "ca"
    ca_cert = x509.load_pem_x509_certificate(next(ca_dir.glob("*-cert.pem")).read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "priv_sk").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, f"fresh-{uuid.uuid4().hex[:8]}@{org}")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key


def self_signed_client_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "nobody@nowhere")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _suspend_if_registered(live: Live, fps: list[str]) -> None:
    """Only a registry that accepted a forged record (today's main) needs this: keep it out of
    sub-quorums."""
    records = registry(live)
    for fp in fps:
        if records.get(fp, {}).get("status") == "ACTIVE":
            live.submit(f"{records[fp]['mspid'][:4].lower()}-admin", "SetVerifierStatus", fp, "SUSPENDED", "issue 15")


def test_an_admin_cannot_enrol_foreign_forged_or_unconsenting_certificates(live):
    forged = {
        "Org2's client": live.profile.identity_files("org2-user1").cert.read_text(),
        # one of its own org's clients that never asked (a fresh one: a profile identity such as
        # org1-user1 could later consent and activate it, which is its right, but not in a test)
        "own org's client": org_client_cert(live, "org1")[0].decode(),
        "self-signed": self_signed_client_cert().decode(),
    }
    fps = [fingerprint(pem.encode()) for pem in forged.values()]
    # Org2's admin certificate is not even a client identity.
    live.refuse("org1-admin", "RegisterVerifier",
                {"cert_pem": live.profile.identity_files("org2-admin").cert.read_text(), "name": "admin"},
                status=400, match="verifiers are client identities")
    try:
        for what, pem in forged.items():
            record = live.submit("org1-admin", "RegisterVerifier", {"cert_pem": pem, "name": f"forged {what}"})
            assert record["status"] == "PENDING", (what, record)  # an authorization, not a registry record
        records = registry(live)
        assert not set(fps) & set(records), "an admin-written certificate entered the verifier registry"
        # The holder of Org2's certificate cannot take up Org1's authorization: Fabric says it is Org2's.
        live.refuse("org2-user1", "ActivateVerifier", status=403, match="no admin of Org2MSP has authorized")
    finally:
        _suspend_if_registered(live, fps)
        for fp in fps:  # withdraw what is left, so nothing can be activated later (and a rerun may authorize again)
            if fp in {a["fingerprint"] for a in live.query("ListVerifiers", {"status": "PENDING", "mspid": "Org1MSP"})
                      ["verifiers"]}:
                assert live.submit("org1-admin", "SetVerifierStatus", fp, "SUSPENDED", "test")["status"] == "REVOKED"


def test_a_squatted_certificate_does_not_lock_out_its_owner(live):
    pem, key = org_client_cert(live, "org2")
    fp = fingerprint(pem)
    try:
        # Org1's admin squats Org2's fresh verifier certificate.
        assert live.submit("org1-admin", "RegisterVerifier", {"cert_pem": pem.decode(), "name": "squat"})["status"] \
            == "PENDING"
        # Its real owner's admin still authorizes it (today: refused as a duplicate) ...
        auth = live.submit("org2-admin", "RegisterVerifier", {"cert_pem": pem.decode(), "name": "fresh org2 verifier"})
        assert auth["status"] == "PENDING" and auth["mspid"] == "Org2MSP"
        # ... and the owner's own activation is accepted by every peer, as Org2's verifier. It is
        # endorsed, never ordered: a registered verifier without a worker would stall sub-quorums.
        gateway = connect(Identity("Org2MSP", pem), signer_from_key(key), live.profile.peers, live.profile.orderers)
        try:
            contract = gateway.get_network(live.profile.channel).get_contract(live.profile.chaincode)
            proposal = contract.new_proposal("ActivateVerifier", [])
            try:
                endorsed = proposal.endorse()
            except EndorseError as exc:
                pytest.fail(f"the owner's activation was refused: {exc.chaincode_message or exc}")
            record = json.loads(endorsed.result)
            assert record["status"] == "ACTIVE" and record["mspid"] == "Org2MSP" and record["name"] == "fresh org2 verifier"
        finally:
            gateway.close()
        assert fp not in registry(live)
    finally:
        _suspend_if_registered(live, [fp])
        for admin, mspid in (("org1-admin", "Org1MSP"), ("org2-admin", "Org2MSP")):  # withdraw both
            pending = {a["fingerprint"] for a in live.query("ListVerifiers", {"status": "PENDING", "mspid": mspid})
                       ["verifiers"]}
            if fp in pending:
                live.submit(admin, "SetVerifierStatus", fp, "SUSPENDED", "test")
