"""Wrap a 32-byte data key to one reader's X.509 certificate, so the key can travel on the ledger.

Why per-reader wrapping and not Fabric private data collections (issue #18, option (b)): our
chaincode shim implements no private-data calls, and a collection's data sits in plain text in
the private database of every member peer, readable by those peers' administrators. A key
wrapped to a verifier's certificate is readable only by whoever holds that certificate's private
key, whoever reads the block. The cost: the submitter (or a key agent of its org) posts wrapped
keys after the assignment and again after every re-staffing (``DeliverDataKeys``).

Scheme (version 1), an ECIES-style KEM-DEM on P-256:

1. a fresh ephemeral key pair; ECDH (``ec.ECDH``) with the recipient's certificate key;
2. HKDF-SHA256 (no salt) of the shared secret into a 256-bit AES key, with ``info`` =
   ``b"trainproof/datakey/v1" ‖ model id ‖ artifact plaintext SHA-256 ‖ recipient certificate
   fingerprint (SHA-256 of its DER) ‖ ephemeral point``, NUL-separated;
3. AES-256-GCM of the data key under that key with ``info`` as associated data.

So a wrapped key opens only for that recipient, that model and that artifact: copied into
another model's delivery, or onto another artifact, it fails authentication instead of handing
the recipient a key it would use on the wrong bytes. Output: ``{"v": 1, "epk": base64 of the
uncompressed ephemeral point (65 bytes), "nonce": base64 (12 bytes), "ct": base64 (key ‖ tag,
48 bytes)}``, JSON as it is.

The recipient's key is its Fabric identity's own EC key (the ``keystore`` key next to the
``signcerts`` certificate: ``Profile.identity_files(name).key``/``.cert``), so no second key has
to be enrolled, distributed and bound to the identity: the certificate Fabric's MSP validated
is the encryption key's certificate. Using one P-256 key for ECDSA and for ECDH is a known
trade-off: ECDSA and ECIES-style encryption on a shared key have been proved jointly secure in
the generic group and random oracle models (Degabriele, Lehmann, Paterson, Smart, Strefler,
"On the Joint Security of Encryption and Signature in EMV", CT-RSA 2012), and here the two uses
cannot be confused: a signature never enters this scheme, and every derived key is
domain-separated by the HKDF ``info`` above. Caveats: that key's compromise now exposes the data
keys wrapped to it as well as the identity; a key held in an HSM must allow ECDH derivation; and
re-enrolling an identity (a new certificate) orphans what was wrapped to the old one, so the
submitter delivers again.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
DOMAIN = b"trainproof/datakey/v1"
KEY_BYTES = 32
NONCE_BYTES = 12
POINT_BYTES = 65  # uncompressed P-256 point: 0x04 ‖ x ‖ y
CT_BYTES = KEY_BYTES + 16  # the key and its GCM tag
FIELDS = ("v", "epk", "nonce", "ct")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class KeyWrapError(ValueError):
    """A key that cannot be wrapped or unwrapped; ``reason`` says why in one word:
    ``malformed`` (the wrapped object or an argument), ``wrong-key`` (the private key is not the
    certificate's), ``unauthentic`` (not wrapped to this certificate for this model and artifact,
    or altered since)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def load_certificate(pem: bytes | str) -> x509.Certificate:
    """A PEM certificate whose key is on P-256 (what Fabric's CAs issue)."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        key = cert.public_key()
    except ValueError as exc:
        raise KeyWrapError(f"malformed: not a PEM X.509 certificate ({exc})", reason="malformed") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyWrapError("malformed: the certificate's key is not a P-256 EC key", reason="malformed")
    return cert


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate: how the contract names the recipient."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_private_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    """A Fabric identity's key file (unencrypted PKCS#8 PEM, as the gateway signer reads it)."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyWrapError(f"malformed: {path} does not hold a P-256 EC private key", reason="malformed")
    return key


def _info(model_id: str, artifact_sha256: str, recipient_fp: str, epk: bytes) -> bytes:
    if not _UUID.fullmatch(model_id):
        raise KeyWrapError(f"malformed: model id {model_id[:80]!r} is not a lowercase UUID", reason="malformed")
    if not _HEX64.fullmatch(artifact_sha256):
        raise KeyWrapError(f"malformed: artifact sha256 {artifact_sha256[:80]!r} is not 64 lowercase hex digits",
                           reason="malformed")
    return b"\x00".join([DOMAIN, model_id.encode(), artifact_sha256.encode(), recipient_fp.encode(), epk])


def _kek(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def wrap(key: bytes, recipient_cert: x509.Certificate, model_id: str, artifact_sha256: str) -> dict[str, Any]:
    """The data ``key`` of one artifact (``artifact_sha256``: its plaintext SHA-256, the ledger's
    commitment) of ``model_id``, wrapped to ``recipient_cert``."""
    if len(key) != KEY_BYTES:
        raise KeyWrapError(f"malformed: a data key has {KEY_BYTES} bytes, not {len(key)}", reason="malformed")
    public = recipient_cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise KeyWrapError("malformed: the certificate's key is not a P-256 EC key", reason="malformed")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    epk = ephemeral.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    info = _info(model_id, artifact_sha256, fingerprint(recipient_cert), epk)
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(_kek(ephemeral.exchange(ec.ECDH(), public), info)).encrypt(nonce, key, info)
    return {"v": VERSION, "epk": _b64(epk), "nonce": _b64(nonce), "ct": _b64(ct)}


def unwrap(wrapped: dict[str, Any], private_key: ec.EllipticCurvePrivateKey, recipient_cert: x509.Certificate,
           model_id: str, artifact_sha256: str) -> bytes:
    """The data key, if ``wrapped`` was made by ``wrap`` for this certificate, model and artifact
    and not altered since, and ``private_key`` is the certificate's; KeyWrapError otherwise."""
    if not isinstance(wrapped, dict) or sorted(wrapped) != sorted(FIELDS):
        got = sorted(wrapped) if isinstance(wrapped, dict) else type(wrapped).__name__
        raise KeyWrapError(f"malformed: a wrapped key has exactly the fields {', '.join(FIELDS)}; got {got}",
                           reason="malformed")
    if wrapped["v"] != VERSION or isinstance(wrapped["v"], bool):
        raise KeyWrapError(f"malformed: wrapped-key version {wrapped['v']!r} is not {VERSION}", reason="malformed")
    epk = _unb64(wrapped, "epk", POINT_BYTES)
    nonce = _unb64(wrapped, "nonce", NONCE_BYTES)
    ct = _unb64(wrapped, "ct", CT_BYTES)
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
    except ValueError:
        raise KeyWrapError("malformed: epk is not a point on P-256", reason="malformed") from None
    mine = private_key.public_key().public_numbers()
    if recipient_cert.public_key().public_numbers() != mine:
        raise KeyWrapError(f"wrong key: the private key is not the key of certificate {fingerprint(recipient_cert)}",
                           reason="wrong-key")
    info = _info(model_id, artifact_sha256, fingerprint(recipient_cert), epk)
    try:
        return AESGCM(_kek(private_key.exchange(ec.ECDH(), ephemeral), info)).decrypt(nonce, ct, info)
    except InvalidTag:
        raise KeyWrapError(
            f"unauthentic: the key does not open for certificate {fingerprint(recipient_cert)[:16]}…, model {model_id} "
            f"and artifact {artifact_sha256[:16]}…: it was wrapped to another recipient or for another model or "
            "artifact, or altered since", reason="unauthentic") from None


def delivery(keys: dict[str, bytes], recipients: list[x509.Certificate], model_id: str) -> dict[str, Any]:
    """The DeliverDataKeys argument: every artifact's key (plaintext SHA-256 → data key) wrapped
    to every recipient, ``{"keys": {fingerprint: {sha256: wrapped}}}``."""
    return {"keys": {fingerprint(cert): {sha: wrap(key, cert, model_id, sha) for sha, key in sorted(keys.items())}
                     for cert in recipients}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(wrapped: dict[str, Any], field: str, size: int) -> bytes:
    value = wrapped[field]
    try:
        if not isinstance(value, str):
            raise TypeError
        data = base64.b64decode(value, validate=True)
    except (TypeError, binascii.Error, ValueError):
        raise KeyWrapError(f"malformed: {field} is not base64 text", reason="malformed") from None
    if len(data) != size:
        raise KeyWrapError(f"malformed: {field} holds {len(data)} bytes, not {size}", reason="malformed")
    return data
