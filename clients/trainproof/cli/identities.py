"""Certificates as the contract names them: SHA-256 of the DER bytes (the "fingerprint")."""
from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509

from trainproof.cli.output import CliError, Exit
from trainproof.gateway.identity import fingerprint
from trainproof.profile import Profile

FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def load_pem(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
        x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError) as exc:
        raise CliError(f"{path} is not a readable PEM certificate ({exc})", "pass an identity name of the profile "
                       "or a certificate file", Exit.USAGE) from None
    return pem


def certificate_of(profile: Profile, value: str) -> tuple[bytes, str]:
    """(PEM, default display name) for an identity name of the profile or a certificate file."""
    if value in profile.identities:
        return profile.identities[value].cert.read_bytes(), value
    path = Path(value)
    if path.is_file():
        return load_pem(path), path.stem
    raise CliError(f"{value!r} is neither an identity of the profile nor a certificate file",
                   f"identities: {', '.join(sorted(profile.identities))}", Exit.USAGE)


def fingerprint_of(profile: Profile, value: str) -> str:
    """A fingerprint given as such, or computed from an identity name or a certificate file."""
    if FINGERPRINT.fullmatch(value.lower()):
        return value.lower()
    return fingerprint(certificate_of(profile, value)[0])
