"""Data keys wrapped to a certificate (issue #18): they open for that recipient, model and artifact only."""
from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trainproof.confidential import keywrap
from trainproof.confidential.keywrap import KeyWrapError, delivery, fingerprint, load_certificate, unwrap, wrap
from tests.contract.factories import NOT_AFTER, NOT_BEFORE

pytestmark = pytest.mark.unit
KEY = bytes(range(32))
MODEL = str(uuid.UUID(int=7))
ARTIFACT = hashlib.sha256(b"dataset").hexdigest()


def identity(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A Fabric-like client certificate (P-256, OU=client) and its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .sign(key, hashes.SHA256()))
    return load_certificate(cert.public_bytes(serialization.Encoding.PEM)), key


ALICE = identity("alice@org2.example.com")
BOB = identity("bob@org2.example.com")


def test_round_trip_and_fingerprint_is_the_contracts():
    cert, key = ALICE
    wrapped = wrap(KEY, cert, MODEL, ARTIFACT)
    assert sorted(wrapped) == ["ct", "epk", "nonce", "v"] and wrapped["v"] == 1
    assert len(base64.b64decode(wrapped["epk"])) == 65 and base64.b64decode(wrapped["epk"])[0] == 4
    assert unwrap(wrapped, key, cert, MODEL, ARTIFACT) == KEY
    assert wrap(KEY, cert, MODEL, ARTIFACT) != wrapped  # a fresh ephemeral key every time
    der = cert.public_bytes(serialization.Encoding.DER)
    assert fingerprint(cert) == hashlib.sha256(der).hexdigest()


def test_the_key_file_is_the_identitys_own(tmp_path):
    cert, key = ALICE
    path = tmp_path / "priv_sk"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    assert unwrap(wrap(KEY, cert, MODEL, ARTIFACT), keywrap.load_private_key(path), cert, MODEL, ARTIFACT) == KEY


def test_another_recipient_cannot_unwrap():
    (alice, _), (bob, bob_key) = ALICE, BOB
    wrapped = wrap(KEY, alice, MODEL, ARTIFACT)
    with pytest.raises(KeyWrapError, match="unauthentic: .*another recipient") as info:
        unwrap(wrapped, bob_key, bob, MODEL, ARTIFACT)
    assert info.value.reason == "unauthentic"
    with pytest.raises(KeyWrapError, match="wrong key: the private key is not the key of certificate") as info:
        unwrap(wrapped, bob_key, alice, MODEL, ARTIFACT)
    assert info.value.reason == "wrong-key"


@pytest.mark.parametrize("field", ["epk", "nonce", "ct"])
@pytest.mark.parametrize("position", [0, 1, -1])
def test_a_flipped_byte_in_any_field_is_refused(field, position):
    cert, key = ALICE
    wrapped = wrap(KEY, cert, MODEL, ARTIFACT)
    raw = bytearray(base64.b64decode(wrapped[field]))
    raw[position] ^= 0x01
    with pytest.raises(KeyWrapError) as info:
        unwrap({**wrapped, field: base64.b64encode(raw).decode()}, key, cert, MODEL, ARTIFACT)
    # A flipped point byte mostly leaves P-256; one that stays on it derives another key.
    assert info.value.reason in (("malformed", "unauthentic") if field == "epk" else ("unauthentic",))


@pytest.mark.parametrize("model, artifact", [(str(uuid.UUID(int=8)), ARTIFACT),
                                             (MODEL, hashlib.sha256(b"snapshot 1").hexdigest())])
def test_another_model_or_artifact_is_refused(model, artifact):
    cert, key = ALICE
    with pytest.raises(KeyWrapError, match="unauthentic: .*for another model or artifact"):
        unwrap(wrap(KEY, cert, MODEL, ARTIFACT), key, cert, model, artifact)


@pytest.mark.parametrize("change, match", [
    ({"v": 2}, "version 2 is not 1"),
    ({"v": True}, "version True"),
    ({"extra": 1}, "exactly the fields"),
    ({"ct": "not base64!"}, "ct is not base64"),
    ({"nonce": base64.b64encode(b"short").decode()}, "nonce holds 5 bytes, not 12"),
    ({"epk": base64.b64encode(b"\x04" + b"\x00" * 64).decode()}, "epk is not a point on P-256"),
])
def test_malformed_wrappings_name_what_is_wrong(change, match):
    cert, key = ALICE
    with pytest.raises(KeyWrapError, match=match) as info:
        unwrap({**wrap(KEY, cert, MODEL, ARTIFACT), **change}, key, cert, MODEL, ARTIFACT)
    assert info.value.reason == "malformed" and isinstance(info.value, ValueError)


def test_bad_arguments_are_refused():
    cert, key = ALICE
    with pytest.raises(KeyWrapError, match="a data key has 32 bytes, not 16"):
        wrap(KEY[:16], cert, MODEL, ARTIFACT)
    with pytest.raises(KeyWrapError, match="model id 'M' is not a lowercase UUID"):
        wrap(KEY, cert, "M", ARTIFACT)
    with pytest.raises(KeyWrapError, match="is not 64 lowercase hex digits"):
        wrap(KEY, cert, MODEL, ARTIFACT.upper())
    with pytest.raises(KeyWrapError, match="not a PEM X.509 certificate"):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_a_delivery_wraps_every_key_to_every_recipient():
    (alice, alice_key), (bob, bob_key) = ALICE, BOB
    other = hashlib.sha256(b"snapshot 3").hexdigest()
    body = delivery({ARTIFACT: KEY, other: KEY[::-1]}, [alice, bob], MODEL)
    assert sorted(body["keys"]) == sorted([fingerprint(alice), fingerprint(bob)])
    for cert, key in ((alice, alice_key), (bob, bob_key)):
        mine = body["keys"][fingerprint(cert)]
        assert unwrap(mine[ARTIFACT], key, cert, MODEL, ARTIFACT) == KEY
        assert unwrap(mine[other], key, cert, MODEL, other) == KEY[::-1]
