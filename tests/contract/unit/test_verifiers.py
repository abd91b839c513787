"""RegisterVerifier, SetVerifierStatus, ListVerifiers: admins manage their own org's verifiers."""
from __future__ import annotations

import pytest

from tests.contract.factories import Cast, Net

pytestmark = pytest.mark.unit
V1 = Cast.org1_verifiers[0]


def test_admin_registers_its_own_orgs_verifier(bare_net: Net):
    record = bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "Verifier A"})
    assert record["fingerprint"] == V1.fingerprint
    assert record["mspid"] == "Org1MSP" and record["status"] == "ACTIVE" and record["name"] == "Verifier A"
    assert record["registered_by"]["fingerprint"] == Cast.admin1.fingerprint
    listed = bare_net.call(Cast.client2, "ListVerifiers")["verifiers"]
    assert [v["fingerprint"] for v in listed] == [V1.fingerprint]


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
    bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"})
    record = bare_net.call(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "SUSPENDED", "key rotation")
    assert record["status"] == "SUSPENDED" and record["reason"] == "key rotation"
    assert bare_net.call(Cast.admin1, "ListVerifiers", {"status": "ACTIVE"})["verifiers"] == []
    assert bare_net.call(Cast.admin1, "SetVerifierStatus", V1.fingerprint, "ACTIVE")["status"] == "ACTIVE"


def test_status_changes_are_refused_for_other_orgs_unknown_verifiers_and_no_ops(bare_net: Net):
    bare_net.call(Cast.admin1, "RegisterVerifier", {"cert_pem": V1.pem, "name": "A"})
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
