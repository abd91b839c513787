"""Audit bundles: one model's whole ledger record as a JSON file that proves its verdict offline.

A bundle holds the genesis block (whose config names each MSP's root CAs), every later config
block, the header (number, previous hash, data hash) of every block from 0 to the last one it
covers, and in full each block holding a transaction that wrote one of the model's records.
``verify`` needs nothing else: it links the headers from the genesis block up by hash, checks
that each full block matches its header and its data hash, verifies the orderers' signatures on
it and every creator's and endorser's signature against the MSP roots (the bundle's own genesis
config, or roots the auditor pins), checks that every member org endorsed, and then replays the
model's records from those transactions' write sets in block order to the verdict they prove.

What a bundle cannot prove offline: that no later block changed the verdict (it covers blocks up
to ``indexed_to``), and the peer's MVCC check (a VALID flag is the peer's, the one part of a block
the orderers do not sign); a REJECTED or VERIFIED model's records are final in the contract, so
the first does not matter once the verdict is in.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fabric_protos.common import common_pb2

from trainproof.explorer import signatures
from trainproof.explorer.db import Database
from trainproof.explorer.decode import ChannelConfig, block_hash, channel_config, decode_block, header_bytes
from trainproof.explorer.project import split_key

FORMAT = "trainproof-audit-bundle/1"


class BundleError(Exception):
    """The bundle cannot be built (model not indexed) or read (not a bundle)."""


def build(db: Database, model_id: str, channel: str = "trainproof", chaincode: str = "trainproof") -> dict[str, Any]:
    """The bundle for ``model_id`` from the explorer's index (blocks there passed every check already)."""
    model = db.row("SELECT status, reason FROM models WHERE model_id = ?", (model_id,))
    if model is None:
        raise BundleError(f"model {model_id} is not in the explorer's index")
    txs = db.rows("SELECT mt.block_number, mt.tx_index, mt.tx_id, t.function, t.validation_code FROM model_txs mt "
                  "JOIN txs t ON t.block_number = mt.block_number AND t.tx_index = mt.tx_index "
                  "WHERE mt.model_id = ? ORDER BY mt.block_number, mt.tx_index", (model_id,))
    last = int(db.meta("next_block", "0")) - 1
    wanted = {0, last} | {t["block_number"] for t in txs} | {
        r["number"] for r in db.rows("SELECT number FROM blocks WHERE is_config = 1")}
    blocks = {str(r["number"]): r["raw"] for r in db.rows(
        "SELECT number, raw FROM blocks WHERE number IN (" + ", ".join("?" for _ in wanted) + ")", sorted(wanted))}
    headers = [[r["number"], r["previous_hash"], r["data_hash"]] for r in db.rows(
        "SELECT number, previous_hash, data_hash FROM blocks WHERE number <= ? ORDER BY number", (last,))]
    return {
        "format": FORMAT, "model_id": model_id, "channel": channel, "chaincode": chaincode,
        "created_at": time.time(), "indexed_to": last,
        "claimed": {"status": model["status"], "reason": model["reason"]},
        "transactions": [{"block": t["block_number"], "index": t["tx_index"], "tx_id": t["tx_id"],
                          "function": t["function"], "validation_code": t["validation_code"]} for t in txs],
        "headers": headers, "blocks": blocks,
    }


@dataclass
class Report:
    model_id: str
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    genesis_hash: str = ""
    indexed_to: int = -1
    status: str | None = None
    reason: str = ""
    verdict_tx: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    msps: dict[str, list[str]] = field(default_factory=dict)  # MSP → SHA-256 of each root cert (DER-free: PEM bytes)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pinned(config: ChannelConfig, roots: dict[str, list[bytes]]) -> list[str]:
    """Problems where the bundle's genesis config names other roots than the auditor pinned."""
    problems = []
    for mspid, pems in roots.items():
        msp = config.msps.get(mspid)
        if msp is None:
            problems.append(f"pinned MSP {mspid} is not in the bundle's channel config")
            continue
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        def der(p: bytes) -> bytes:
            return x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER)
        if {der(p) for p in pems} != {der(p) for p in msp.root_certs}:
            problems.append(f"the bundle's root CAs for {mspid} are not the pinned ones")
    return problems


def verify(bundle: dict[str, Any], roots: dict[str, list[bytes]] | None = None,
           genesis_hash: str | None = None) -> Report:
    """Check ``bundle`` offline; ``roots`` (MSP → PEM root certs) and ``genesis_hash`` pin the trust anchor."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"not a trainproof audit bundle (format {FORMAT!r} expected)")
    report = Report(bundle.get("model_id", ""), indexed_to=int(bundle.get("indexed_to", -1)))
    problems = report.problems
    try:
        raw = {int(n): common_pb2.Block.FromString(base64.b64decode(b)) for n, b in bundle["blocks"].items()}
        headers = {int(h[0]): (bytes.fromhex(h[1]), bytes.fromhex(h[2])) for h in bundle["headers"]}
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"malformed bundle: {exc}") from None
    if 0 not in raw:
        problems.append("the bundle has no genesis block")
        return report
    # 1. The header chain, genesis to the last block covered: each previous_hash is the hash of the one before.
    numbers = sorted(headers)
    if numbers != list(range(len(numbers))):
        problems.append("the headers are not contiguous from block 0")
    hashes = {n: hashlib.sha256(header_bytes(n, *headers[n])).digest() for n in numbers}
    for n in numbers[1:]:
        if headers[n][0] != hashes.get(n - 1):
            problems.append(f"header chain broken at block {n}: its previous_hash is not the hash of block {n - 1}")
    report.genesis_hash = block_hash(raw[0].header).hex()
    if genesis_hash and report.genesis_hash != genesis_hash.lower():
        problems.append(f"genesis block hash {report.genesis_hash} is not the pinned {genesis_hash}")
    # 2. Each full block: its header is the chain's, its data hash holds, its signatures verify.
    config: ChannelConfig | None = None
    decoded = {}
    for n in sorted(raw):
        block = decode_block(raw[n])
        decoded[n] = block
        if n not in headers or (block.previous_hash, block.data_hash) != headers[n]:
            problems.append(f"block {n} is not the block the header chain names")
        reasons, _, _ = signatures.check_block(block, config, None)
        problems += [f"block {n}: {r}" for r in reasons]
        cfg = next((t.config for t in block.txs if t.config is not None), None)
        if cfg is not None:
            config = channel_config(cfg)
            if n == 0:
                problems += _pinned(config, roots or {})
                report.msps = {m: [hashlib.sha256(c).hexdigest()[:16] for c in v.root_certs] for m, v in config.msps.items()}
    if config is None:
        problems.append("no channel config in the bundle")
        return report
    # 3. The model's transactions: endorsed by every member org, then replayed to the verdict.
    model_id, chaincode = report.model_id, bundle.get("chaincode", "trainproof")
    state: dict[str, Any] | None = None
    decisions: dict[int, dict[str, Any]] = {}
    config_at: ChannelConfig | None = None
    for n in sorted(decoded):
        block = decoded[n]
        for tx in block.txs:
            if tx.config is not None:
                config_at = channel_config(tx.config)
            touched = [(split_key(w.key), w) for ns, w in tx.writes if ns == chaincode and not w.is_delete]
            mine = [(k, w) for k, w in touched if k and k[1] and (k[1][0] == model_id or
                                                                  (k[0] == "child" and model_id in k[1]))]
            if not mine:
                continue
            endorsers = {e.signer.mspid for e, c in zip(tx.endorsements, signatures.check_tx(config_at, tx)[1]) if c}
            missing = [m for m in (config_at.applications if config_at else []) if m not in endorsers]
            entry = {"block": n, "tx_id": tx.tx_id, "function": tx.function, "validation_code": tx.validation_code,
                     "creator": tx.creator.mspid if tx.creator else "", "endorsed_by": sorted(endorsers)}
            report.transactions.append(entry)
            if missing and tx.valid:
                problems.append(f"tx {tx.tx_id[:12]} (block {n}) lacks a verified endorsement of {', '.join(missing)}")
            if not tx.valid:
                continue
            for (kind, attrs), w in mine:
                value = json.loads(w.value) if w.value.startswith(b"{") else None
                if kind == "modelstate" and value:
                    state, report.verdict_tx = value, entry
                elif kind == "decision" and value:
                    decisions[int(attrs[1])] = {"interval": int(attrs[1]), "outcome": value.get("outcome"),
                                                "reason": value.get("reason"), "tx_id": tx.tx_id, "block": n}
    covered = {t["tx_id"] for t in report.transactions}
    for t in bundle.get("transactions", []):
        if t.get("tx_id") not in covered:
            problems.append(f"listed tx {str(t.get('tx_id'))[:12]} is not in the bundle's blocks")
    if state is None:
        problems.append(f"no transaction in the bundle wrote model {model_id}'s state")
    else:
        report.status, report.reason = state.get("status"), state.get("reason") or ""
    report.decisions = [decisions[i] for i in sorted(decisions)]
    report.ok = not problems
    return report
