"""`trainproof verifier`: the registry, as admins and (refused) as clients.

Registering authorizes a certificate (PENDING); only its holder's own `verifier join` puts it in
the registry. The test's certificate is self-signed, so it can never join (Fabric's MSP refuses
its transactions) and never enters a sub-quorum. (Until issue 15 it became ACTIVE at once.)
"""
from __future__ import annotations

import datetime
import re
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.conftest import as_json, expect_error, expect_json_error
from trainproof.cli.output import Exit

pytestmark = pytest.mark.cli
ADMIN = ("--identity", "org1-admin")


@pytest.fixture
def cert_file(tmp_path):
    """A throwaway verifier certificate (self-signed: the contract reads it, the peers never see it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"cli-test-{uuid.uuid4().hex[:8]}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    path = tmp_path / "cli-test-verifier.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_list(invoke):
    rows = as_json(invoke("verifier", "list", "--json"))["verifiers"]
    assert {"org1-verifier1", "org2-verifier1"} <= {v["name"] for v in rows}
    org2 = as_json(invoke("verifier", "list", "--org", "org2", "--json"))["verifiers"]
    assert org2 and all(v["mspid"] == "Org2MSP" for v in org2)
    result = invoke("verifier", "list")
    assert result.exit_code == 0 and "org1-verifier1" in result.stdout and "verifier(s)" in result.stdout


def test_register_authorizes_but_does_not_enrol(invoke, cert_file):
    result = invoke("verifier", "register", str(cert_file), "--name", "cli-test", *ADMIN)
    assert result.exit_code == 0, result.output
    assert "authorized verifier cli-test of Org1MSP: PENDING" in result.stdout
    fingerprint = re.search(r"fingerprint ([0-9a-f]{64})", result.stdout).group(1)
    pending = as_json(invoke("verifier", "list", "--status", "PENDING", "--json"))["verifiers"]
    assert fingerprint in {v["fingerprint"] for v in pending}
    assert fingerprint not in {v["fingerprint"] for v in as_json(invoke("verifier", "list", "--json"))["verifiers"]}
    expect_json_error(invoke("verifier", "register", str(cert_file), *ADMIN, "--json"), Exit.REFUSED,
                      "already authorized")
    revoked = as_json(invoke("verifier", "suspend", fingerprint, "--reason", "cli test", *ADMIN, "--json"))
    assert (revoked["fingerprint"], revoked["status"]) == (fingerprint, "REVOKED")  # can never be activated now
    expect_error(invoke("verifier", "suspend", fingerprint, *ADMIN), Exit.NOT_FOUND, "unknown verifier")


def test_joining_without_an_authorization_is_refused(invoke):
    expect_error(invoke("verifier", "join", "--identity", "org2-user1"), Exit.DENIED, "not authorized")


def test_activating_an_active_verifier_changes_nothing(invoke):
    expect_error(invoke("verifier", "activate", "org1-verifier1", *ADMIN), Exit.REFUSED, "already ACTIVE")


def test_a_client_may_not_register_a_verifier(invoke, cert_file):
    error = expect_json_error(invoke("verifier", "register", str(cert_file), "--json"), Exit.DENIED, "not an MSP admin")
    assert "org1-admin" in error["hint"]
    expect_error(invoke("verifier", "register", str(cert_file)), Exit.DENIED, "not an MSP admin")
    expect_error(invoke("verifier", "suspend", "org1-verifier1"), Exit.DENIED, "not an MSP admin")


def test_an_admin_may_not_suspend_another_orgs_verifier(invoke):
    expect_error(invoke("verifier", "suspend", "org2-verifier1", *ADMIN), Exit.DENIED, "own org only")


def test_unknown_verifier(invoke):
    expect_error(invoke("verifier", "suspend", "0" * 64, *ADMIN), Exit.NOT_FOUND, "unknown verifier")


def test_register_needs_a_certificate(invoke, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    expect_error(invoke("verifier", "register", str(junk), *ADMIN), Exit.USAGE, "not a readable PEM certificate")
    expect_error(invoke("verifier", "register", "nobody", *ADMIN), Exit.USAGE, "neither an identity")
