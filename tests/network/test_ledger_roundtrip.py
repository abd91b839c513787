"""Submit → commit → evaluate on the live network, through our own chaincode shim."""
from __future__ import annotations

import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.network.ledger import endorser_msps, height
from trainproof.gateway import EndorseError, EvaluateError

pytestmark = pytest.mark.network


def test_submit_commit_evaluate_round_trip(contract):
    key, value = f"k-{uuid.uuid4()}", "hello ledger"
    assert contract.submit("PutValue", [key, value]) == value.encode()
    assert contract.evaluate("GetValue", [key]) == value.encode()


def test_endorsement_carries_both_orgs(profile, connect, contract):
    submitted = contract.submit_async("PutValue", [f"k-{uuid.uuid4()}", "v"])
    assert submitted.get_status().successful
    assert endorser_msps(connect(), profile.channel, submitted.tx_id) == {"Org1MSP", "Org2MSP"}


def test_chaincode_error_is_a_clear_exception_and_changes_nothing(profile, connect, contract):
    before = height(connect(), profile.channel)
    with pytest.raises(EndorseError) as refused:
        contract.submit("PutValue", ["fail:this", "v"])
    assert "rejected on purpose" in refused.value.chaincode_message
    with pytest.raises(EvaluateError) as missing:
        contract.evaluate("GetValue", ["fail:this"])
    assert "no value stored" in str(missing.value)
    assert height(connect(), profile.channel) == before


def test_who_am_i_names_the_caller(profile, connect):
    files = profile.identity_files("org2-user1")
    gateway = connect("org2-user1")
    answer = json.loads(gateway.get_network(profile.channel).get_contract(profile.chaincode).evaluate("WhoAmI"))
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert answer["mspid"] == "Org2MSP"
    assert answer["fingerprint"] == hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_100_concurrent_submits_all_commit(contract):
    keys = [f"c-{uuid.uuid4()}" for _ in range(100)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda k: contract.submit("PutValue", [k, k]), keys))
    assert results == [k.encode() for k in keys]
    assert all(contract.evaluate("GetValue", [k]) == k.encode() for k in keys[:: 10])
