"""Output receipts: what a third party needs to check an attestation without trusting whoever hands it over.

A receipt holds the block that committed the AttestOutput transaction (the envelope with the
attester's signature and every endorsing peer's, the orderers' signatures on the header) and
the channel's configuration block in force then (the MSPs' root CAs, the orderers), plus one
entry per attested output: its input and output digests, the output itself when it is small,
and its RFC 6962 inclusion path to the batch's Merkle root.

``verify`` checks offline, in this order, and names the part that failed: the configuration
(its root CAs are the fingerprints the receipt states and, if given, the ones the reader
trusts), the block (its data hash covers the envelope; the orderers signed its header), the
envelope (the creator's signature; an endorsement by every application org, each chaining to
its MSP's roots), the attestation record in the endorsed write set (the contract wrote it only
for a VERIFIED model's final weights), each item's inclusion path to that record's root, and
the caller's input and output files against the item's digests.

What offline checking cannot show: the VALID flag is written by the committing peer, not signed
(a transaction the peers invalidated keeps its signatures), and whether the model's status or
the attestation's audit changed later. ``check_online`` asks the ledger for both.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import common_pb2

from trainproof.attestation import merkle
from trainproof.attestation.tensors import from_json_list, row_digests, tensor_digest
from trainproof.contract import ATTEST_OUTPUT
from trainproof.explorer import signatures
from trainproof.explorer.decode import Block, ChannelConfig, Tx, channel_config, decode_block
from trainproof.explorer.project import split_key

FORMAT = "trainproof-output-receipt/1"
ATTESTATION_KEY = "attestation"


class ReceiptError(ValueError):
    """Not a receipt, or one too malformed to check (the message says which field)."""


@dataclass
class Problem:
    part: str  # config | trust | block | envelope | creator signature | endorsement | record | item N | input | output
    message: str

    def __str__(self) -> str:
        return f"{self.part}: {self.message}"


@dataclass
class Report:
    attestation_id: str = ""
    model_id: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    block: int = -1
    attester: str = ""
    endorsed_by: list[str] = field(default_factory=list)
    roots: dict[str, list[str]] = field(default_factory=dict)
    pinned: bool = False  # the reader gave the root fingerprints it trusts
    items_checked: list[int] = field(default_factory=list)
    matched_item: int | None = None
    problems: list[Problem] = field(default_factory=list)
    online: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, part: str, message: str) -> None:
        self.problems.append(Problem(part, message))

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        return {**out, "ok": self.ok, "problems": [{"part": p.part, "message": p.message} for p in self.problems]}


def root_fingerprints(config: ChannelConfig) -> dict[str, list[str]]:
    """SHA-256 of each MSP root certificate's DER encoding: what a consortium publishes for pinning."""
    def der(pem: bytes) -> bytes:
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return {m: sorted(hashlib.sha256(der(c)).hexdigest() for c in msp.root_certs)
            for m, msp in sorted(config.msps.items())}


def _config_of(block: Block) -> ChannelConfig:
    found = next((t.config for t in block.txs if t.config is not None), None)
    if found is None:
        raise ReceiptError(f"config_block: block {block.number} holds no channel configuration")
    return channel_config(found)


def last_config_index(block: common_pb2.Block) -> int:
    """The number of the configuration block in force for ``block`` (its orderer metadata says)."""
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.SIGNATURES or not metadata[common_pb2.SIGNATURES]:
        return 0
    value = common_pb2.Metadata.FromString(metadata[common_pb2.SIGNATURES]).value
    return common_pb2.OrdererBlockMetadata.FromString(value).last_config.index if value else 0


def attestation_record(tx: Tx, chaincode: str, attestation_id: str) -> dict[str, Any] | None:
    """The attestation record the endorsed write set of ``tx`` holds, if any."""
    for namespace, write in tx.writes:
        parts = split_key(write.key) if namespace == chaincode and not write.is_delete else None
        if parts and parts[0] == ATTESTATION_KEY and parts[1] == [attestation_id]:
            try:
                return json.loads(write.value)
            except ValueError:
                return None
    return None


def build(block_raw: bytes, config_raw: bytes, attestation_id: str, items: Iterable[dict[str, Any]],
          channel: str = "trainproof", chaincode: str = "trainproof",
          row_shapes: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """A receipt for ``items`` (``index``, ``input_sha256``, ``output_sha256``, ``path`` as hex,
    optional ``output`` {shape, values}) of the attestation committed in ``block_raw``.
    ``row_shapes`` (one input's and one output's shape) tell a reader's single-sample file from a
    batch; they are hints, not claims: the digests cover the shapes."""
    block = decode_block(common_pb2.Block.FromString(block_raw))
    index = next((t.index for t in block.txs if t.tx_id == attestation_id), None)
    if index is None:
        raise ReceiptError(f"block {block.number} does not hold transaction {attestation_id}")
    config_block = decode_block(common_pb2.Block.FromString(config_raw))
    record = attestation_record(block.txs[index], chaincode, attestation_id) or {}
    return {
        "format": FORMAT, "channel": channel, "chaincode": chaincode, "created_at": time.time(),
        "attestation_id": attestation_id, "model_id": record.get("model_id"), "model": record.get("model"),
        "weights_sha256": record.get("weights_sha256"), "count": record.get("count"), "root": record.get("root"),
        "roots": root_fingerprints(_config_of(config_block)),
        "block": {"number": block.number, "tx_index": index, "hash": block.hash.hex(),
                  "raw": base64.b64encode(block_raw).decode()},
        "config_block": {"number": config_block.number, "raw": base64.b64encode(config_raw).decode()},
        "row_shapes": row_shapes or {},
        "items": list(items),
    }


def extract(receipt: dict[str, Any], indices: Iterable[int]) -> dict[str, Any]:
    """The receipt for some items of a batch only (what one consumer receives): each keeps its
    inclusion path, so it still verifies against the attested root."""
    wanted = set(indices)
    missing = wanted - {it.get("index") for it in receipt.get("items", [])}
    if missing:
        raise ReceiptError(f"the receipt holds no item {min(missing)}")
    return {**receipt, "items": [it for it in receipt["items"] if it.get("index") in wanted]}


def load(text: str | bytes) -> dict[str, Any]:
    try:
        receipt = json.loads(text)
    except ValueError as exc:
        raise ReceiptError(f"not JSON: {exc}") from None
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        raise ReceiptError(f"not a trainproof output receipt (format {FORMAT!r} expected)")
    return receipt


def _block(receipt: dict[str, Any], name: str) -> Block:
    try:
        raw = base64.b64decode(receipt[name]["raw"], validate=True)
        return decode_block(common_pb2.Block.FromString(raw))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptError(f"{name}: not a base64 Fabric block ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # protobuf's DecodeError and friends: a damaged block
        raise ReceiptError(f"{name}: the block does not parse ({type(exc).__name__}: {exc})") from None


def _digest_rows(array: np.ndarray, row_shape: list[int] | None) -> list[str]:
    """The item digests an input/output file stands for: one row (the receipt's row shape), or a
    batch of rows along the first dimension."""
    if row_shape is not None and list(array.shape) == list(row_shape):
        return [tensor_digest(array)]
    return row_digests(array) if array.ndim > 1 else [tensor_digest(array)]


def verify(receipt: dict[str, Any], inputs: np.ndarray | None = None, outputs: np.ndarray | None = None,
           item: int | None = None, trusted: dict[str, set[str]] | None = None) -> Report:
    """Check ``receipt`` offline (see the module docstring); ``trusted`` maps MSP ids to the root
    certificate fingerprints the reader trusts (e.g. the consortium's published ones)."""
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        raise ReceiptError(f"not a trainproof output receipt (format {FORMAT!r} expected)")
    report = Report(attestation_id=str(receipt.get("attestation_id", "")))
    chaincode = receipt.get("chaincode", "trainproof")
    # 1. The configuration: the MSP roots everything else is checked against.
    config_block = _block(receipt, "config_block")
    config = _config_of(config_block)
    report.roots = root_fingerprints(config)
    report.pinned = bool(trusted)
    if receipt.get("roots") != report.roots:
        report.add("config", "the configuration block's root CAs are not the fingerprints the receipt states")
    for mspid, wanted in (trusted or {}).items():
        if set(report.roots.get(mspid, [])) != set(wanted):
            report.add("trust", f"{mspid}'s root CAs in the receipt are not the trusted ones "
                                f"({', '.join(f[:16] for f in report.roots.get(mspid, [])) or 'none'})")
    # The genesis block is the anchor (nothing can have signed it); a later config block must carry
    # valid orderer signatures under the configuration it states.
    for reason in signatures.check_block(config_block, config, None)[0]:
        report.add("config", f"block {config_block.number}: {reason}")
    # 2. The block: header signed by the orderers, data hash covering the envelopes.
    block = _block(receipt, "block")
    report.block = block.number
    if block.number != receipt["block"].get("number"):
        report.add("block", f"the block is number {block.number}, the receipt says {receipt['block'].get('number')}")
    if block.computed_data_hash != block.data_hash:
        report.add("envelope", "the block's transactions do not hash to its header's data_hash: an envelope was altered")
    orderers = signatures.orderer_checks(block, config)
    if not any(o["ok"] for o in orderers):
        report.add("block", "no valid orderer signature over the block header")
    for o in orderers:
        if not o["ok"]:
            report.add("block", f"orderer signature of {o['mspid'] or '?'} {o['subject']}: {o['why']}")
    # 3. The envelope: the attester's signature and every org's endorsement.
    index = receipt["block"].get("tx_index")
    if not isinstance(index, int) or not 0 <= index < len(block.txs):
        report.add("envelope", f"tx_index {index!r} is not a transaction of block {block.number}")
        return report
    tx = block.txs[index]
    if tx.tx_id != report.attestation_id:
        report.add("envelope", f"transaction {index} of block {block.number} is {tx.tx_id}, not the attestation")
    if tx.chaincode != chaincode or tx.function != ATTEST_OUTPUT:
        report.add("envelope", f"transaction {tx.tx_id[:16]} is {tx.chaincode}.{tx.function}, not {chaincode}.{ATTEST_OUTPUT}")
    if tx.validation_code != "VALID":
        report.add("envelope", f"the block marks the transaction {tx.validation_code}, not VALID")
    creator, endorsements = signatures.check_tx(config, tx)
    report.attester = f"{tx.creator.mspid} {tx.creator.subject}" if tx.creator else ""
    if not creator:
        report.add("creator signature", creator.why)
    endorsed = set()
    for endorsement, check in zip(tx.endorsements, endorsements):
        if check:
            endorsed.add(endorsement.signer.mspid)
        else:
            report.add("endorsement", f"by {endorsement.signer.mspid}: {check.why}")
    report.endorsed_by = sorted(endorsed)
    missing = [m for m in config.applications if m not in endorsed]
    if missing:
        report.add("endorsement", f"no valid endorsement by {', '.join(missing)}; the contract's signature needs every org")
    # 4. The record the endorsers signed, and the receipt's claims about it.
    record = attestation_record(tx, chaincode, report.attestation_id)
    if record is None:
        report.add("record", f"the transaction wrote no attestation record {report.attestation_id[:16]}…")
        return report
    report.model_id, report.model = str(record.get("model_id", "")), record.get("model") or {}
    for name in ("model_id", "weights_sha256", "count", "root"):
        if receipt.get(name) != record.get(name):
            report.add("record", f"the receipt's {name} {str(receipt.get(name))[:80]!r} is not the ledger's "
                                 f"{str(record.get(name))[:80]!r}")
    _check_items(report, receipt, record, inputs, outputs, item)
    return report


def _check_items(report: Report, receipt: dict[str, Any], record: dict[str, Any], inputs: np.ndarray | None,
                 outputs: np.ndarray | None, wanted: int | None) -> None:
    items = receipt.get("items") or []
    if not isinstance(items, list) or not items:
        report.add("items", "the receipt holds no attested output")
        return
    count, root = int(record["count"]), bytes.fromhex(record["root"])
    by_index = {it.get("index"): it for it in items if isinstance(it, dict)}
    if wanted is not None and wanted not in by_index:
        report.add("items", f"the receipt holds no item {wanted} (it holds {', '.join(map(str, sorted(by_index)))})")
        return
    chosen = [by_index[wanted]] if wanted is not None else list(by_index.values())
    for it in chosen:
        part = f"item {it.get('index')}"
        try:
            leaf = merkle.item_leaf(it["input_sha256"], it["output_sha256"])
            path = [bytes.fromhex(h) for h in it.get("path", [])]
            included = merkle.verify_inclusion(leaf, int(it["index"]), count, path, root)
        except (KeyError, TypeError, ValueError) as exc:
            report.add(part, f"malformed ({type(exc).__name__}: {exc})")
            continue
        if not included:
            report.add(part, "its input and output digests do not lead to the attested Merkle root by its inclusion path")
        output = it.get("output")
        if output is not None:
            try:
                digest = tensor_digest(from_json_list(output["values"], output["shape"]))
            except (KeyError, TypeError, ValueError) as exc:
                report.add(part, f"output values malformed ({exc})")
            else:
                if digest != it["output_sha256"]:
                    report.add(part, "the output values it carries do not hash to its output digest")
        report.items_checked.append(int(it["index"]))
    single = record.get("output")
    if single and len(items) == 1 and (items[0].get("input_sha256"), items[0].get("output_sha256")) != (
            single["input_sha256"], single["output_sha256"]):
        report.add("item 0", "its digests are not the ones the ledger's record holds")
    shapes = receipt.get("row_shapes") or {}
    for name, array, key in (("input", inputs, "input_sha256"), ("output", outputs, "output_sha256")):
        if array is None:
            continue
        digests = _digest_rows(array, shapes.get(name))
        matched = [it for it in chosen if it[key] in digests]
        if len(digests) == 1 and not matched:
            report.add(name, f"the file hashes to {digests[0][:16]}…, which is not the attested {name} of "
                             f"{'item ' + str(chosen[0]['index']) if len(chosen) == 1 else 'any item'}")
        elif len(digests) > 1 and len(matched) < len(digests):
            report.add(name, f"{len(digests) - len(matched)} of the file's {len(digests)} rows are not attested {name}s")
        elif len(digests) == 1:
            report.matched_item = int(matched[0]["index"])
    if inputs is not None and outputs is not None and report.matched_item is not None:
        it = by_index[report.matched_item]
        if it["output_sha256"] not in _digest_rows(outputs, shapes.get("output")):
            report.add("output", f"the output file is not item {report.matched_item}'s output for that input")


def check_online(report: Report, receipt: dict[str, Any], ledger: Any, qscc: Any, channel: str) -> Report:
    """With network access: the peer's block ``report.block`` is the receipt's (same header hash),
    and the model's status and the attestation's audit now (a change is reported, not hidden)."""
    from trainproof.contract import ContractError

    online: dict[str, Any] = {}
    try:
        raw = qscc.evaluate("GetBlockByNumber", [channel, str(report.block)])
        peer_block = decode_block(common_pb2.Block.FromString(raw))
        online["block_hash_matches"] = peer_block.hash.hex() == receipt["block"].get("hash") == _block(receipt, "block").hash.hex()
        if not online["block_hash_matches"]:
            report.add("ledger", f"the peer's block {report.block} is not the receipt's block")
        record = ledger.get_attestation(report.attestation_id)
    except ContractError as exc:
        report.add("ledger", f"the ledger did not answer: {exc.reason}")
        report.online = online
        return report
    except Exception as exc:  # the peer's qscc: an unreachable node or an unknown block
        report.add("ledger", f"could not read block {report.block} from the peer: {exc}")
        report.online = online
        return report
    online.update({"model_status": record.get("model_status"), "model_reason": record.get("model_reason"),
                   "audit": record.get("audit", {}).get("state"), "check": record.get("audit", {}).get("check")})
    if record.get("root") != receipt.get("root"):
        report.add("ledger", "the ledger's attestation has another root than the receipt")
    if online["model_status"] != "VERIFIED":
        report.add("ledger", f"model {report.model_id} is now {online['model_status']} "
                             f"({str(online['model_reason'])[:200]}); it was VERIFIED when the output was attested")
    if online["audit"] == "DISPUTED":
        report.add("ledger", "a verifier recomputed this attestation's outputs and DISPUTED them")
    report.online = online
    return report
