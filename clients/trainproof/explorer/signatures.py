"""Signature checks against the channel's MSPs: who signed, and whether the signature holds.

A signature proves something only if its certificate chains to a root CA that the channel's
config names for the signer's MSP; so each check is two: the certificate was issued by one of
that MSP's CAs (not expired then, not revoked), and the ECDSA signature over the SHA-256 of the
signed bytes verifies with its key. The roots come from the channel's config blocks (block 0
and every later config update), which are themselves checked like every other block.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from trainproof.explorer.decode import Block, ChannelConfig, Msp, Signer, Tx
from trainproof.gateway.endorsements import issued_by


@dataclass(frozen=True)
class Check:
    ok: bool
    why: str = ""  # empty when ok

    def __bool__(self) -> bool:
        return self.ok


@lru_cache(maxsize=4096)
def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def chains_to(cert_pem: bytes, msp: Msp, at: float | None = None) -> Check:
    """The certificate is one of ``msp``'s members: issued by a root or by an intermediate a root
    issued, not revoked, and (with ``at``) valid at that time."""
    try:
        cert = _cert(cert_pem)
    except ValueError as exc:
        return Check(False, f"not a certificate: {exc}")
    if at is not None:
        moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            return Check(False, "certificate not valid at the transaction's time")
    return _member(cert_pem, msp.mspid, tuple(msp.root_certs), tuple(msp.intermediate_certs), tuple(msp.revoked))


@lru_cache(maxsize=4096)
def _member(cert_pem: bytes, mspid: str, root_pems: tuple[bytes, ...], intermediate_pems: tuple[bytes, ...],
            revoked: tuple[bytes, ...]) -> Check:
    """The issuer and revocation part of ``chains_to``: the same for every signature of a certificate,
    so it is computed once per certificate and MSP config (the costly part of indexing)."""
    cert = _cert(cert_pem)
    roots = [_cert(r) for r in root_pems]
    intermediates = [i for i in (_cert(p) for p in intermediate_pems) if any(issued_by(i, r) for r in roots)]
    if not any(issued_by(cert, ca) for ca in roots + intermediates):
        return Check(False, f"certificate not issued by a CA of {mspid}")
    for crl_der in revoked:
        try:
            crl = x509.load_der_x509_crl(crl_der)
        except ValueError:
            crl = x509.load_pem_x509_crl(crl_der)
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            return Check(False, f"certificate revoked by {mspid}")
    return Check(True)


def signature_ok(cert_pem: bytes, signed: bytes, signature: bytes) -> bool:
    """ECDSA over SHA-256(signed) with the certificate's key: what every Fabric signature is."""
    key = _cert(cert_pem).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def verify(config: ChannelConfig | None, signer: Signer | None, signed: bytes, signature: bytes,
           at: float | None = None) -> Check:
    """``signer`` belongs to its claimed MSP of ``config`` and signed ``signed``."""
    if signer is None:
        return Check(False, "no signer")
    if config is None:
        return Check(False, "no channel config yet")
    msp = config.msps.get(signer.mspid)
    if msp is None:
        return Check(False, f"MSP {signer.mspid} is not in the channel config")
    member = chains_to(signer.cert_pem, msp, at)
    if not member:
        return member
    try:
        return Check(True) if signature_ok(signer.cert_pem, signed, signature) else Check(False, "signature does not verify")
    except ValueError as exc:
        return Check(False, f"bad signature encoding: {exc}")


def check_tx(config: ChannelConfig | None, tx: Tx) -> tuple[Check, list[Check]]:
    """The creator's signature over the envelope, and each endorser's over its proposal response."""
    creator = verify(config, tx.creator, tx.payload, tx.signature, tx.timestamp)
    endorsements = [verify(config, e.signer, e.signed, e.signature, tx.timestamp) for e in tx.endorsements]
    return creator, endorsements


def orderer_checks(block: Block, config: ChannelConfig | None) -> list[dict[str, Any]]:
    """Each orderer signature in the block's metadata (over the header bytes), resolved and checked."""
    out = []
    for sig in block.orderer_signatures:
        signer = sig.signer
        if signer is None and config is not None:
            signer = config.consenters.get(sig.consenter_id if sig.consenter_id is not None else -1)
        check = verify(config, signer, sig.signed, sig.signature)
        out.append({"mspid": signer.mspid if signer else "", "subject": signer.subject if signer else "",
                    "ok": bool(check), "why": check.why})
    return out


def check_block(block: Block, config: ChannelConfig | None,
                previous: str | None) -> tuple[list[str], list[dict[str, Any]], list[tuple[Tx, Check, list[Check]]]]:
    """Why ``block`` must be refused (empty: it passes), its orderer signatures, each tx's checks.

    ``previous`` is the hex hash of the block before it (None: not known, the link is not checked).
    The genesis block is the trust anchor: nobody the channel knows yet can have signed it.
    """
    reasons = []
    if block.number > 0 and previous is not None and block.previous_hash.hex() != previous:
        reasons.append(f"previous_hash {block.previous_hash.hex()[:16]}… is not the hash of block "
                       f"{block.number - 1} ({previous[:16]}…)")
    if block.computed_data_hash != block.data_hash:
        reasons.append(f"data_hash {block.data_hash.hex()[:16]}… does not match the block's transactions "
                       f"({block.computed_data_hash.hex()[:16]}…)")
    orderers = orderer_checks(block, config)
    if block.number > 0:
        if not orderers:
            reasons.append("no orderer signature")
        for o in orderers:
            if not o["ok"]:
                reasons.append(f"orderer signature of {o['mspid'] or '?'} {o['subject']}: {o['why']}")
    txs = []
    for tx in block.txs:
        if tx.type == "ENDORSER_TRANSACTION":
            creator, endorsements = check_tx(config, tx)
        elif block.number == 0:
            creator, endorsements = Check(True), []
        else:
            creator, endorsements = verify(config, tx.creator, tx.payload, tx.signature, tx.timestamp), []
        txs.append((tx, creator, endorsements))
        if tx.valid and tx.type != "UNREADABLE":
            if not creator:
                reasons.append(f"tx {tx.tx_id[:12]} marked VALID: creator signature: {creator.why}")
            for e, c in zip(tx.endorsements, endorsements):
                if not c:
                    reasons.append(f"tx {tx.tx_id[:12]} marked VALID: endorsement by {e.signer.mspid}: {c.why}")
    return reasons, orderers, txs
