"""Who signs: an MSP identity (MSP ID + X.509 certificate) and a signer over SHA-256 digests.

Signers take the digest, not the message, so a private key may live elsewhere (an HSM, a
remote signing service): that is what offline signing hands out.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from fabric_protos.msp import identities_pb2

Signer = Callable[[bytes], bytes]  # SHA-256 digest in, DER signature out

# Order of the P-256 group; Fabric refuses signatures with S above half of it.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER bytes: how the contract names an identity."""
    return hashlib.sha256(x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class Identity:
    mspid: str
    cert_pem: bytes

    def serialize(self) -> bytes:
        return identities_pb2.SerializedIdentity(mspid=self.mspid, id_bytes=self.cert_pem).SerializeToString()

    @classmethod
    def from_files(cls, mspid: str, cert_path: str | Path) -> Identity:
        return cls(mspid, Path(cert_path).read_bytes())


def digest(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def signer_from_key(key: ec.EllipticCurvePrivateKey) -> Signer:
    """ECDSA P-256 signer producing low-S signatures, as Fabric requires."""

    def sign(message_digest: bytes) -> bytes:
        der = key.sign(message_digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        if s > _P256_N // 2:
            s = _P256_N - s
        return utils.encode_dss_signature(r, s)

    return sign


def signer_from_pem(key_pem: bytes) -> Signer:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("Fabric identities use ECDSA keys; this PEM holds another key type")
    return signer_from_key(key)


def signer_from_key_file(path: str | Path) -> Signer:
    return signer_from_pem(Path(path).read_bytes())
