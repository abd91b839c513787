"""Checking the endorsements a gateway hands back, against the channel's MSPs.

The peer's Gateway service collects the endorsements and assembles the transaction, so a
hostile or broken gateway peer could hand back anything: a result no peer computed, signatures
that do not verify, endorsers no MSP issued, or too few orgs. Fabric's committing peers would
mark such a transaction invalid, but the client would have reported the forged result and
waited on a commit that never comes. So before the client signs a prepared transaction it
checks it as a committer would:

* the response payload answers *this* proposal (its ``proposal_hash``);
* each endorsement's signature over ``proposal_response_payload ‖ endorser`` verifies with the
  endorser's certificate;
* that certificate chains to a root (or intermediate) CA of the MSP it names, is valid now and,
  where the MSP uses NodeOUs, carries the peer OU;
* enough orgs endorsed for the channel's ``Endorsement`` policy (an implicit-meta rule: ANY,
  ALL or MAJORITY of the application orgs, as the chaincode definition uses by default).

The MSPs and that rule come from the channel's configuration block (``MSPs.from_config_block``),
the same roots the peers validate against, never from the gateway that is being checked.
"""
from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import identities_pb2, msp_config_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2


class EndorsementInvalid(ValueError):
    """The prepared transaction's endorsements do not stand up; the message says which and why."""


@dataclass(frozen=True)
class MSP:
    """What a client needs of one channel MSP to check its members' signatures."""

    mspid: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    peer_ou: str = ""  # NodeOUs: the OU every peer certificate carries ("" when NodeOUs are off)

    def validate(self, cert: x509.Certificate, role_ou: str | None = None) -> None:
        """Raises EndorsementInvalid unless ``cert`` was issued by this MSP's CAs and is valid now."""
        now = datetime.datetime.now(datetime.timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise EndorsementInvalid(f"certificate {_subject(cert)} is not valid now")
        if not self._chains(cert):
            raise EndorsementInvalid(f"certificate {_subject(cert)} was not issued by a CA of {self.mspid}")
        if role_ou:
            ous = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
            if role_ou not in ous:
                raise EndorsementInvalid(f"certificate {_subject(cert)} of {self.mspid} is not a peer (OU={role_ou} required)")

    def _chains(self, cert: x509.Certificate) -> bool:
        if any(issued_by(cert, root) for root in self.roots):
            return True
        return any(issued_by(cert, mid) and any(issued_by(mid, root) for root in self.roots)
                   for mid in self.intermediates)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer`` signed ``cert`` (one link of an MSP chain); also what the explorer checks with."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


class MSPs(dict[str, MSP]):
    """The channel's MSPs by MSP ID, and the implicit-meta rule of its Endorsement policy."""

    rule: str = "MAJORITY"  # ANY | ALL | MAJORITY

    def orgs_needed(self) -> int:
        """How many distinct orgs must endorse under ``rule``."""
        return {"ANY": 1, "ALL": len(self)}.get(self.rule, len(self) // 2 + 1)

    @classmethod
    def from_config_block(cls, block: bytes) -> MSPs:
        """Every application org's MSP from a configuration block (e.g. the channel's genesis block)."""
        envelope = common_pb2.Envelope.FromString(common_pb2.Block.FromString(block).data.data[0])
        config = configtx_pb2.ConfigEnvelope.FromString(common_pb2.Payload.FromString(envelope.payload).data).config
        found = cls()
        for group in config.channel_group.groups["Application"].groups.values():
            fabric = msp_config_pb2.FabricMSPConfig.FromString(
                msp_config_pb2.MSPConfig.FromString(group.values["MSP"].value).config)
            ous = fabric.fabric_node_ous
            found[fabric.name] = MSP(
                fabric.name, tuple(x509.load_pem_x509_certificate(c) for c in fabric.root_certs),
                tuple(x509.load_pem_x509_certificate(c) for c in fabric.intermediate_certs),
                ous.peer_ou_identifier.organizational_unit_identifier if ous.enable else "")
        policy = config.channel_group.groups["Application"].policies.get("Endorsement")
        if policy is not None and policy.policy.type == policies_pb2.Policy.IMPLICIT_META:
            meta = policies_pb2.ImplicitMetaPolicy.FromString(policy.policy.value)
            found.rule = policies_pb2.ImplicitMetaPolicy.Rule.Name(meta.rule)
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> MSPs:
        return cls.from_config_block(Path(path).read_bytes())


def proposal_hash(prop: proposal_pb2.Proposal) -> bytes:
    """Fabric's hash binding a response to its proposal: SHA-256 of channel header ‖ signature
    header ‖ the chaincode proposal payload without its transient map."""
    header = common_pb2.Header.FromString(prop.header)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
    stripped = proposal_pb2.ChaincodeProposalPayload(input=payload.input).SerializeToString()
    return hashlib.sha256(header.channel_header + header.signature_header + stripped).digest()


def check_endorsements(payload: bytes, prop: proposal_pb2.Proposal, msps: MSPs) -> None:
    """Raises EndorsementInvalid unless the prepared transaction ``payload`` (an Envelope payload)
    carries, for ``prop``, valid peer endorsements of as many orgs as the channel's policy needs.
    Any endorsement that does not verify is refused outright: an honest gateway sends none."""
    actions = transaction_pb2.Transaction.FromString(common_pb2.Payload.FromString(payload).data).actions
    if len(actions) != 1:
        raise EndorsementInvalid(f"the prepared transaction has {len(actions)} actions, not 1")
    endorsed = transaction_pb2.ChaincodeActionPayload.FromString(actions[0].payload).action
    response = proposal_response_pb2.ProposalResponsePayload.FromString(endorsed.proposal_response_payload)
    if response.proposal_hash != proposal_hash(prop):
        raise EndorsementInvalid("the endorsed response answers another proposal (proposal hash differs)")
    valid: set[str] = set()
    for number, endorsement in enumerate(endorsed.endorsements):
        endorser = identities_pb2.SerializedIdentity.FromString(endorsement.endorser)
        msp = msps.get(endorser.mspid)
        if msp is None:
            raise EndorsementInvalid(f"endorsement {number} names MSP {endorser.mspid!r}, not one of the "
                                     f"channel's ({', '.join(sorted(msps))})")
        try:
            cert = x509.load_pem_x509_certificate(endorser.id_bytes)
        except ValueError as exc:
            raise EndorsementInvalid(f"endorsement {number} ({endorser.mspid}) has no readable certificate: {exc}") from None
        msp.validate(cert, msp.peer_ou or None)
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise EndorsementInvalid(f"endorsement {number} ({endorser.mspid}) is not signed with an ECDSA key")
        try:
            key.verify(endorsement.signature, endorsed.proposal_response_payload + endorsement.endorser,
                       ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise EndorsementInvalid(f"endorsement {number} by {_subject(cert)} ({endorser.mspid}): the signature "
                                     "does not verify over the response") from None
        valid.add(endorser.mspid)
    needed = msps.orgs_needed()
    if len(valid) < needed:
        missing = sorted(set(msps) - valid)
        raise EndorsementInvalid(f"endorsed by {len(valid)} org(s) ({', '.join(sorted(valid)) or 'none'}); the channel's "
                                 f"{msps.rule} Endorsement policy needs {needed} of {len(msps)} (missing: {', '.join(missing)})")
