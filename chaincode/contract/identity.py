"""Who is calling: the creator's X.509 certificate, reduced to what the contract's rules need.

The peer has already checked the creator's signature and that its certificate chains to the
claimed MSP, so here we only read it. Identities are keyed by the SHA-256 fingerprint of the
DER certificate. With Fabric NodeOUs an MSP admin's certificate carries OU=admin and a client's
OU=client; verifiers are recognised by fingerprint (see ``verifiers``), not by OU.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from trainproof.chaincode.shim.stub import ChaincodeError, Stub

ADMIN_OU = "admin"
CLIENT_OU = "client"


@dataclass(frozen=True)
class Identity:
    fingerprint: str
    mspid: str
    common_name: str
    ous: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return ADMIN_OU in self.ous

    @property
    def is_client(self) -> bool:
        return CLIENT_OU in self.ous

    def ref(self) -> dict[str, str]:
        """How records and events name this identity."""
        return {"fingerprint": self.fingerprint, "mspid": self.mspid, "common_name": self.common_name}

    def describe(self) -> str:
        return f"{self.fingerprint} ({self.mspid}, CN={self.common_name})"


def from_pem(mspid: str, pem: bytes, what: str) -> Identity:
    """Parse a PEM certificate; a malformed one is refused with ``what`` in the message."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        der = cert.public_bytes(Encoding.DER)
        subject = cert.subject
        cns = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        ous = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME))
    # cryptography parses lazily and raises several types (ValueError, InvalidVersion, …) on bad input.
    except Exception as exc:
        raise ChaincodeError(f"{what} is not a valid X.509 PEM certificate: {str(exc)[:120]}", 400) from None
    return Identity(hashlib.sha256(der).hexdigest(), mspid, cns[0] if cns else "", ous)


def caller(stub: Stub) -> Identity:
    creator = stub.get_creator()
    if not creator.mspid:
        raise ChaincodeError("identity: the creator has no MSP ID", 401)
    return from_pem(creator.mspid, creator.cert_pem, "identity: the creator's certificate")


def require_admin(who: Identity) -> None:
    if not who.is_admin:
        raise ChaincodeError(f"role: caller {who.describe()} is not an MSP admin (certificate OU=admin required)", 403)


def require_client(who: Identity) -> None:
    if not who.is_client:
        raise ChaincodeError(
            f"role: caller {who.describe()} is not a client identity of a member org (certificate OU=client required)", 403
        )
