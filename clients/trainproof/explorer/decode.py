"""A Fabric block taken apart into plain values: header, transactions, the contract call, rw-set.

Everything the explorer shows and checks comes out of these dataclasses; the raw bytes that
signatures cover (envelope payload, proposal response payload, header bytes) are kept beside
the decoded values, because a check must run on exactly the bytes that were signed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import common_pb2, configtx_pb2, configuration_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2, msp_config_pb2
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2


def header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """Fabric's ``protoutil.BlockHeaderBytes``: the DER of SEQUENCE {INTEGER, OCTET STRING, OCTET STRING}.

    A block's hash is the SHA-256 of these bytes, and the next block's ``previous_hash`` must equal it.
    """
    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        if n < 0x80:
            length = bytes([n])
        else:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            length = bytes([0x80 | len(raw)]) + raw
        return bytes([tag]) + length + body

    integer = number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big")  # a leading 0 keeps it positive
    return tlv(0x30, tlv(0x02, integer) + tlv(0x04, previous_hash) + tlv(0x04, data_hash))


def block_hash(header: common_pb2.BlockHeader) -> bytes:
    return hashlib.sha256(header_bytes(header.number, header.previous_hash, header.data_hash)).digest()


def data_hash(block: common_pb2.Block) -> bytes:
    """Fabric's ``protoutil.ComputeBlockDataHash``: SHA-256 over the concatenated envelopes."""
    return hashlib.sha256(b"".join(block.data.data)).digest()


@dataclass(frozen=True)
class Signer:
    """An identity as Fabric serializes it (MSP id + PEM certificate), read once."""

    mspid: str
    cert_pem: bytes

    @classmethod
    def parse(cls, serialized: bytes) -> Signer:
        ident = identities_pb2.SerializedIdentity.FromString(serialized)
        return cls(ident.mspid, bytes(ident.id_bytes))

    @property
    def certificate(self) -> x509.Certificate:
        return _certificate(self.cert_pem)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate: the contract's name for an identity."""
        return _names(self.cert_pem)[0]

    @property
    def subject(self) -> str:
        return _names(self.cert_pem)[1]


@lru_cache(maxsize=4096)
def _certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@lru_cache(maxsize=4096)
def _names(pem: bytes) -> tuple[str, str]:
    """(fingerprint, subject): a network has a few dozen identities, signing thousands of times."""
    cert = _certificate(pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(), cert.subject.rfc4514_string()


@dataclass
class Endorsement:
    signer: Signer
    signature: bytes
    signed: bytes  # proposal_response_payload ‖ endorser: what the endorsing peer signed


@dataclass
class Write:
    key: str
    value: bytes
    is_delete: bool


@dataclass
class Tx:
    """One envelope of a block, decoded as far as its type allows."""

    index: int
    tx_id: str
    type: str  # ENDORSER_TRANSACTION, CONFIG, ...
    timestamp: float
    creator: Signer | None
    signature: bytes
    payload: bytes  # the signed bytes of the envelope
    envelope: bytes
    validation_code: str = "VALID"
    chaincode: str = ""
    function: str = ""
    args: list[str] = field(default_factory=list)
    response_status: int = 0
    response_message: str = ""
    response_payload: bytes = b""
    event_name: str = ""
    event_payload: bytes = b""
    reads: list[dict[str, Any]] = field(default_factory=list)  # {namespace, key, version}
    writes: list[tuple[str, Write]] = field(default_factory=list)  # (namespace, write)
    endorsements: list[Endorsement] = field(default_factory=list)
    config: common_pb2.Config | None = None

    @property
    def valid(self) -> bool:
        return self.validation_code == "VALID"

    def event_json(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.event_payload) if self.event_payload else None
        except ValueError:
            return None


@dataclass
class OrdererSignature:
    signer: Signer | None  # None: a BFT identifier header (resolved against the consenters)
    consenter_id: int | None
    signature: bytes
    signed: bytes  # metadata value ‖ signature (or identifier) header ‖ header bytes


@dataclass
class Block:
    number: int
    previous_hash: bytes
    data_hash: bytes
    hash: bytes
    computed_data_hash: bytes
    txs: list[Tx]
    orderer_signatures: list[OrdererSignature]
    raw: bytes

    @property
    def timestamp(self) -> float:
        return max((t.timestamp for t in self.txs), default=0.0)


def _text(raw: bytes) -> str:
    """Arguments as text where they are UTF-8 (the contract's are), else hex."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


def _orderer_signatures(block: common_pb2.Block) -> list[OrdererSignature]:
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.SIGNATURES or not metadata[common_pb2.SIGNATURES]:
        return []
    md = common_pb2.Metadata.FromString(metadata[common_pb2.SIGNATURES])
    header = header_bytes(block.header.number, block.header.previous_hash, block.header.data_hash)
    out = []
    for sig in md.signatures:
        if sig.signature_header:
            creator = common_pb2.SignatureHeader.FromString(sig.signature_header).creator
            out.append(OrdererSignature(Signer.parse(creator), None, bytes(sig.signature),
                                        bytes(md.value) + bytes(sig.signature_header) + header))
        else:
            ident = common_pb2.IdentifierHeader.FromString(sig.identifier_header)
            out.append(OrdererSignature(None, ident.identifier, bytes(sig.signature),
                                        bytes(md.value) + bytes(sig.identifier_header) + header))
    return out


def _validation_codes(block: common_pb2.Block) -> bytes:
    metadata = block.metadata.metadata
    return bytes(metadata[common_pb2.TRANSACTIONS_FILTER]) if len(metadata) > common_pb2.TRANSACTIONS_FILTER else b""


def _endorser_tx(tx: Tx, data: bytes) -> None:
    transaction = transaction_pb2.Transaction.FromString(data)
    if not transaction.actions:
        return
    action = transaction_pb2.ChaincodeActionPayload.FromString(transaction.actions[0].payload)
    proposal_payload = proposal_pb2.ChaincodeProposalPayload.FromString(action.chaincode_proposal_payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(proposal_payload.input).chaincode_spec
    args = [bytes(a) for a in spec.input.args]
    tx.chaincode = spec.chaincode_id.name
    if args:
        tx.function, tx.args = _text(args[0]), [_text(a) for a in args[1:]]
    prp_bytes = bytes(action.action.proposal_response_payload)
    tx.endorsements = [Endorsement(Signer.parse(e.endorser), bytes(e.signature), prp_bytes + bytes(e.endorser))
                       for e in action.action.endorsements]
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(prp_bytes)
    cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    tx.chaincode = cc_action.chaincode_id.name or tx.chaincode
    tx.response_status, tx.response_message = cc_action.response.status, cc_action.response.message
    tx.response_payload = bytes(cc_action.response.payload)
    if cc_action.events:
        event = chaincode_event_pb2.ChaincodeEvent.FromString(cc_action.events)
        tx.event_name, tx.event_payload = event.event_name, bytes(event.payload)
    rwset = rwset_pb2.TxReadWriteSet.FromString(cc_action.results)
    for ns in rwset.ns_rwset:
        kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
        for r in kv.reads:
            version = f"{r.version.block_num}:{r.version.tx_num}" if r.HasField("version") else None
            tx.reads.append({"namespace": ns.namespace, "key": r.key, "version": version})
        for w in kv.writes:
            tx.writes.append((ns.namespace, Write(w.key, bytes(w.value), w.is_delete)))


def decode_block(block: common_pb2.Block) -> Block:
    """Every envelope of ``block``; an envelope that does not parse is kept with type ``UNREADABLE``."""
    codes = _validation_codes(block)
    txs = []
    for i, raw in enumerate(block.data.data):
        envelope = common_pb2.Envelope.FromString(raw)
        payload = common_pb2.Payload.FromString(envelope.payload)
        ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        sh = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        tx = Tx(i, ch.tx_id, common_pb2.HeaderType.Name(ch.type) if ch.type in common_pb2.HeaderType.values() else str(ch.type),
                ch.timestamp.seconds + ch.timestamp.nanos / 1e9, Signer.parse(sh.creator) if sh.creator else None,
                bytes(envelope.signature), bytes(envelope.payload), bytes(raw))
        if i < len(codes):
            tx.validation_code = transaction_pb2.TxValidationCode.Name(codes[i]) \
                if codes[i] in transaction_pb2.TxValidationCode.values() else str(codes[i])
        try:
            if ch.type == common_pb2.ENDORSER_TRANSACTION:
                _endorser_tx(tx, payload.data)
            elif ch.type == common_pb2.CONFIG:
                tx.config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
        except Exception as exc:  # a malformed action is shown as such, never a crash of the indexer
            tx.type, tx.response_message = "UNREADABLE", f"{type(exc).__name__}: {exc}"
        txs.append(tx)
    return Block(block.header.number, bytes(block.header.previous_hash), bytes(block.header.data_hash),
                 block_hash(block.header), data_hash(block), txs, _orderer_signatures(block),
                 block.SerializeToString())


@dataclass
class Msp:
    """What a channel config says about one MSP: the CAs its members' certificates must chain to."""

    mspid: str
    root_certs: list[bytes]
    intermediate_certs: list[bytes]
    revoked: list[bytes] = field(default_factory=list)


@dataclass
class ChannelConfig:
    msps: dict[str, Msp]
    consenters: dict[int, Signer]  # BFT consenter id → identity
    applications: list[str] = field(default_factory=list)  # the member orgs that endorse


def channel_config(config: common_pb2.Config) -> ChannelConfig:
    """Every MSP of the channel (orderer and application orgs) and the BFT consenters, if any."""
    msps: dict[str, Msp] = {}
    consenters: dict[int, Signer] = {}
    applications: list[str] = []

    def walk(group: configtx_pb2.ConfigGroup, path: tuple[str, ...] = ()) -> None:
        if "MSP" in group.values:
            mspc = msp_config_pb2.MSPConfig.FromString(group.values["MSP"].value)
            if mspc.type == 0:  # FABRIC
                fc = msp_config_pb2.FabricMSPConfig.FromString(mspc.config)
                msps[fc.name] = Msp(fc.name, [bytes(c) for c in fc.root_certs],
                                    [bytes(c) for c in fc.intermediate_certs], [bytes(c) for c in fc.revocation_list])
                if "Application" in path:
                    applications.append(fc.name)
        if "Orderers" in group.values:
            for c in configuration_pb2.Orderers.FromString(group.values["Orderers"].value).consenter_mapping:
                consenters[c.id] = Signer(c.msp_id, bytes(c.identity))
        for name, child in group.groups.items():
            walk(child, path + (name,))

    walk(config.channel_group)
    return ChannelConfig(msps, consenters, sorted(applications))
