"""RegisterVerifier, ActivateVerifier, SetVerifierStatus, ListVerifiers: admins authorize their own
org's verifiers, each verifier activates its own record, admins suspend them."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net, party

pytestmark = pytest.mark.unit
V1 = Cast.org1_verifiers[0]


def test_admin_authorizes_and_the_verifier_activates_itself(bare_net: Net):
    pending = bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "Verifier A"})
    assert pending["fingerprint"] == V1.fingerprint and pending["status"] == "PENDING"
    assert bare_net.call(Cast.client2, "ListVerifiers")["verifiers"] == []  # not in the registry yet
    assert bare_net.call(Cast.client2, "ListVerifiers", {"status": "PENDING"})["verifiers"] == [pending]
    record = bare_net.call(V1, "ActivateVerifier")
    assert record["mspid"] == "Org1MSP" and record["status"] == "ACTIVE" and record["name"] == "Verifier A"
    assert record["registered_by"]["fingerprint"] == Cast.admin1.fingerprint
    assert record["cert_pem"] == V1.pem
    listed = bare_net.call(Cast.client2, "ListVerifiers")["verifiers"]
    assert [v["fingerprint"] for v in listed] == [V1.fingerprint]
    assert bare_net.call(Cast.client2, "ListVerifiers", {"status": "PENDING"})["verifiers"] == []
    bare_net.refuse(V1, "ActivateVerifier", status=409, match="already registered")


def test_nobody_activates_without_its_own_orgs_authorization(bare_net: Net):
    bare_net.refuse(V1, "ActivateVerifier", status=403, match="not authorized: no admin of Org1MSP")
    bare_net.refuse(Cast.admin1, "ActivateVerifier", status=403, match="not a client identity")


def test_a_squatted_authorization_never_blocks_the_real_owner():
    """Org1's admin authorizes an Org2 certificate as its own: it can never be activated, since
    the holder's Fabric-validated MSP is Org2MSP; Org2's admin then authorizes it normally."""
    net = Net()
    owner = party("Org2MSP", "fresh@org2.example.com", "client")
    net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": owner.pem, "name": "squatted"})
    net.refuse(owner, "ActivateVerifier", status=403, match="no admin of Org2MSP has authorized")
    net.call(Cast.admin2, "RegisterVerifier", {"cert_pem": owner.pem, "name": "real"})
    record = net.call(owner, "ActivateVerifier")
    assert record["mspid"] == "Org2MSP" and record["name"] == "real"
    assert net.call(Cast.admin2, "SetVerifierStatus", owner.fingerprint, "SUSPENDED")["status"] == "SUSPENDED"
    net.refuse(Cast.admin1, "SetVerifierStatus", owner.fingerprint, "ACTIVE", status=403, match="own org only")


def test_an_admin_revokes_an_authorization_before_it_is_used(bare_net: Net):
    bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"})
    bare_net.refuse(Cast.admin2, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", status=404, match="unknown verifier")
    revoked = bare_net.call(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", "mistake")
    assert revoked["status"] == "REVOKED" and revoked["reason"] == "mistake"
    bare_net.refuse(V1, "ActivateVerifier", status=403, match="not authorized")
    bare_net.refuse(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", status=404, match="unknown verifier")
    assert bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"})["status"] == "PENDING"


@pytest.mark.parametrize("cert", [Cast.admin2, Cast.peer1])
def test_only_client_certificates_become_verifiers(bare_net: Net, cert):
    bare_net.refuse(Cast.admin1, "RegisterVerifier", {"cert_pem": cert.pem, "name": "x"}, status=400,
                    match="verifiers are client identities")


def test_explicit_mspid_equal_to_the_admins_is_accepted(bare_net: Net):
    record = bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A", "mspid": "Org1MSP"})
    assert record["mspid"] == "Org1MSP"


@pytest.mark.parametrize("who", [Cast.client1, Cast.peer1, Cast.org1_verifiers[1]])
def test_only_admins_register(bare_net: Net, who):
    bare_net.refuse(who, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"}, status=403, match="not an MSP admin")


def test_an_admin_registers_only_its_own_orgs_verifiers(bare_net: Net):
    bare_net.refuse(Cast.admin2, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A", "mspid": "Org1MSP"},
                    status=403, match="own org only")


def test_duplicate_registration_is_refused(bare_net: Net):
    bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"})
    bare_net.refuse(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "B"}, status=409, match="duplicate")


@pytest.mark.parametrize("arg, rule", [
    ("not json", "not valid JSON"),
    ({"name": "A"}, "'cert_pem' is a required property"),
    ({"cert_pem": V1.pem, "name": ""}, "schema"),
    ({"cert_pem": V1.pem, "name": "A", "extra": 1}, "Additional properties"),
    ({"cert_pem": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----", "name": "A"}, "not a valid X.509"),
])
def test_malformed_registrations_are_refused(bare_net: Net, arg, rule):
    bare_net.refuse(Cast.admin1, "RegisterVerifier", arg, status=400, match=rule)


def test_admin_suspends_and_reactivates_its_own_verifier(bare_net: Net):
    bare_net.register_verifier(Cast.admin1, V1)
    record = bare_net.call(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", "key rotation")
    assert record["status"] == "SUSPENDED" and record["reason"] == "key rotation"
    assert bare_net.call(Cast.admin1, "ListVerifiers", {"status": "ACTIVE"})["verifiers"] == []
    assert bare_net.call(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "ACTIVE")["status"] == "ACTIVE"


def test_status_changes_are_refused_for_other_orgs_unknown_verifiers_and_no_ops(bare_net: Net):
    bare_net.register_verifier(Cast.admin1, V1)
    bare_net.refuse(Cast.admin2, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", status=403, match="own org only")
    bare_net.refuse(Cast.client1, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", status=403, match="MSP admin")
    bare_net.refuse(Cast.admin1, "SetVerifierStatus", "ab" * 32, "SUSPENDED", status=404, match="unknown verifier")
    bare_net.refuse(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "ACTIVE", status=409, match="no change")
    bare_net.refuse(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "GONE", status=400, match="status")


def test_list_verifiers_filters(net: Net):
    assert len(net.call(Cast.client1, "ListVerifiers")["verifiers"]) == 6
    assert len(net.call(Cast.client1, "ListVerifiers", {"mspid": "Org2MSP"})["verifiers"]) == 4
    net.refuse(Cast.client1, "ListVerifiers", {"colour": "red"}, match="unknown field")
    net.refuse(Cast.client1, "ListVerifiers", {"status": "ASLEEP"}, match="status must be")
