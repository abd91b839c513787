"""Identity parsing, strict JSON, and argument formats."""
from __future__ import annotations

import pytest

from trainproof.chaincode.contract import args, codec, identity
from trainproof.chaincode.shim.stub import ChaincodeError
from tests.contract.factories import Cast

pytestmark = pytest.mark.unit


def test_identity_reads_fingerprint_ous_and_common_name():
    who = identity.from_pem("Org1MSP", Cast.admin1.creator.cert_pem, "cert")
    assert who.fingerprint == Cast.admin1.fingerprint and len(who.fingerprint) == 64
    assert who.is_admin and not who.is_client
    assert who.common_name == "Admin@org1.example.com"
    client = identity.from_pem("Org1MSP", Cast.client1.creator.cert_pem, "cert")
    assert client.is_client and not client.is_admin


@pytest.mark.parametrize("pem", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_malformed_certificates_are_refused(pem):
    with pytest.raises(ChaincodeError, match="not a valid X.509"):
        identity.from_pem("Org1MSP", pem, "cert")


@pytest.mark.parametrize("text, rule", [
    ("{", "not valid JSON"),
    ('{"a": NaN}', "not valid JSON"),
    ('{"a": Infinity}', "not valid JSON"),
    ('{"a": 1e999}', "out of range"),
    ('{"a": 1, "a": 2}', "duplicate key"),
    ("[" * 40 + "]" * 40, "nested deeper"),
    ("[" * 100000 + "]" * 100000, "JSON"),
    ('"\\ud800"', "lone surrogate"),
    ('{"\\udc00": 1}', "lone surrogate"),
    ("1" * 5000, "not valid JSON"),
])
def test_strict_json_refuses_what_a_peer_could_not_store_or_agree_on(text, rule):
    with pytest.raises(ChaincodeError, match=rule):
        codec.parse_json(text, "payload")


def test_canonical_json_is_sorted_and_compact():
    assert codec.canonical({"b": 1, "a": [1.5, "x"]}) == b'{"a":[1.5,"x"],"b":1}'


def test_argument_formats():
    assert args.interval("0") == 0 and args.interval("12") == 12
    for bad in ["-1", "01", "1.0", " 1", "123456789", ""]:
        with pytest.raises(ChaincodeError, match="interval"):
            args.interval(bad)
    with pytest.raises(ChaincodeError, match="UUID"):
        args.model_id("8AD53DD3-4B02-4AF5-A17F-E03D2FABEE1C")
    with pytest.raises(ChaincodeError, match="fingerprint"):
        args.fingerprint("ab" * 31)
    with pytest.raises(ChaincodeError, match="expected 1 argument"):
        args.texts([b"a", b"b"], "F(x)", 1, 1)
    with pytest.raises(ChaincodeError, match="not UTF-8"):
        args.texts([b"\xff"], "F(x)", 1, 1)
    with pytest.raises(ChaincodeError, match="1 MiB") as err:
        args.check_sizes([b"x", b"x" * (args.MAX_ARG_BYTES + 1)])
    assert err.value.status == 413
    args.check_sizes([b"x" * args.MAX_ARG_BYTES])
