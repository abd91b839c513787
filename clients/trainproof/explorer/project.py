"""trainproof's ledger records, projected from the write sets of valid transactions.

The contract writes every record as canonical JSON under a composite key (chaincode/contract/
keys.py), so the write set of a committed transaction *is* the new state: projecting writes,
in block order, rebuilds models, assignments, intervals, votes, decisions, verifiers and
attestations exactly as the peers hold them, without trusting an event or a query answer. Invalid
transactions (MVCC conflicts, policy failures) wrote nothing and are skipped here.

An attestation's record is rewritten by its audit (AuditAttestation, ConfirmAttestation): the
row follows the latest write, so a DISPUTED check shows wherever the attestation does.
"""
from __future__ import annotations

import json
import re
from typing import Any, Collection

from trainproof.contract import ATTESTATION_TRANSACTIONS
from trainproof.explorer.decode import Tx

MODEL_TYPES = {"model", "modelstate", "assignment", "interval", "decision", "vote"}
# What writes an attestation's history: its record, and the seed round of its audit draw (keyed by the
# attestation's 64-hex id; a model's seed round is keyed by its UUID).
ATTESTATION_TYPES = {"attestation", "seedround"}
# The calls whose writes ATTESTATION_TYPES covers (Indexer re-projects them into an older index).
ATTESTATION_FUNCTIONS = ATTESTATION_TRANSACTIONS
ATTESTATION_ID = re.compile(r"[0-9a-f]{64}")


def split_key(key: str) -> tuple[str, list[str]] | None:
    """A composite key's object type and attributes (None for a plain key)."""
    if not key.startswith("\x00"):
        return None
    parts = key[1:].split("\x00")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    return (parts[0], parts[1:]) if parts else None


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _hash(cur: Any, sha256: Any, kind: str, model_id: str, detail: str = "") -> None:
    if isinstance(sha256, str) and len(sha256) == 64:
        cur.upsert("hashes", {"sha256": sha256.lower(), "kind": kind, "model_id": model_id, "detail": detail},
                   ["sha256", "kind", "model_id", "detail"], update=False)


def project(cur: Any, tx: Tx, block_number: int, chaincode: str, kinds: Collection[str] | None = None) -> None:
    """Apply one valid transaction's writes to the explorer's tables (inside the block's DB transaction);
    with ``kinds``, only the records of those object types (re-projecting one kind into an older index)."""
    touched: set[str] = set()
    attested: set[str] = set()
    records = []
    for namespace, write in tx.writes:
        parsed = split_key(write.key) if namespace == chaincode and not write.is_delete else None
        if parsed is not None and (kinds is None or parsed[0] in kinds):
            records.append((parsed, write))
    # Write sets are sorted by key, so a certificate ("model") precedes its first state ("modelstate"):
    # the state goes first, since it creates the row the certificate is attached to.
    for (kind, attrs), write in sorted(records, key=lambda r: r[0][0] != "modelstate"):
        if kind in MODEL_TYPES and attrs:
            touched.add(attrs[0])
        if kind == "child" and len(attrs) == 2:
            touched.update(attrs)
        if kind in ATTESTATION_TYPES and attrs and ATTESTATION_ID.fullmatch(attrs[0]):
            attested.add(attrs[0])
        record = _json(write.value)
        if record is None:
            continue
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(cur, record, attrs, tx, block_number)
    for model_id in touched:
        cur.upsert("model_txs", {"model_id": model_id, "block_number": block_number, "tx_index": tx.index,
                                 "tx_id": tx.tx_id}, ["model_id", "block_number", "tx_index"], update=False)
    for aid in attested:
        cur.upsert("attestation_txs", {"attestation_id": aid, "block_number": block_number, "tx_index": tx.index,
                                       "tx_id": tx.tx_id}, ["attestation_id", "block_number", "tx_index"], update=False)


def _model_state(cur: Any, s: dict, attrs: list[str], tx: Tx, block: int) -> None:
    submitter = s.get("submitter") or {}
    cur.upsert("models", {
        "model_id": s["model_id"], "name": str(s.get("name", "")), "version": str(s.get("version", "")),
        "parent_id": s.get("parent_id"), "submitter_fingerprint": submitter.get("fingerprint", ""),
        "submitter_msp": submitter.get("mspid", ""), "submitter_cn": submitter.get("common_name", ""),
        "status": s.get("status", ""), "reason": s.get("reason") or "", "intervals": int(s.get("intervals") or 0),
        "state": _dump(s), "submitted_tx": s.get("submitted_tx", tx.tx_id),
        "submitted_at": float(s.get("submitted_at") or tx.timestamp),
        "updated_at": float(s.get("updated_at") or tx.timestamp), "updated_block": block,
    }, ["model_id"])
    _hash(cur, s.get("certificate_sha256"), "certificate", s["model_id"])


def _certificate(cur: Any, record: dict, attrs: list[str], tx: Tx, block: int) -> None:
    model_id = attrs[0]
    c = record.get("certificate") or {}
    # The certificate is written in the same transaction as the first model state: that row exists.
    cur.execute("UPDATE models SET certificate = ? WHERE model_id = ?", (_dump(c), model_id))
    dataset = c.get("dataset") or {}
    _hash(cur, dataset.get("sha256"), "dataset", model_id, str(dataset.get("name", "")))
    for snap in c.get("snapshots") or []:
        _hash(cur, snap.get("sha256"), "snapshot", model_id, str(snap.get("index")))
    chain = (c.get("layer_hashes") or {}).get("chain") or []
    if chain:  # the last entry chains every layer: it names the final weights whatever file holds them
        _hash(cur, chain[-1], "weights", model_id, "final weights (layer hash chain)")


def _assignment(cur: Any, a: dict, attrs: list[str], tx: Tx, block: int) -> None:
    cur.upsert("assignments", {"model_id": attrs[0], "record": _dump(a)}, ["model_id"])


def _interval(cur: Any, i: dict, attrs: list[str], tx: Tx, block: int) -> None:
    cur.upsert("intervals", {"model_id": attrs[0], "interval": int(attrs[1]), "record": _dump(i)},
               ["model_id", "interval"])


def _vote(cur: Any, v: dict, attrs: list[str], tx: Tx, block: int) -> None:
    evidence = v.get("evidence") or {}
    cur.upsert("votes", {
        "model_id": attrs[0], "interval": int(attrs[1]), "verifier": attrs[2], "verdict": v.get("verdict", ""),
        "round": int(v.get("round") or 0), "replay_sha256": str(evidence.get("replay_sha256", "")),
        "record": _dump(v), "tx_id": v.get("tx_id", tx.tx_id), "block_number": block,
        "timestamp": float(v.get("timestamp") or tx.timestamp),
    }, ["model_id", "interval", "verifier"])
    _hash(cur, evidence.get("replay_sha256"), "replay", attrs[0], f"interval {int(attrs[1])} by {attrs[2][:12]}")
    _hash(cur, evidence.get("evidence_sha256"), "evidence", attrs[0], f"interval {int(attrs[1])} by {attrs[2][:12]}")


def _decision(cur: Any, d: dict, attrs: list[str], tx: Tx, block: int) -> None:
    cur.upsert("decisions", {
        "model_id": attrs[0], "interval": int(attrs[1]), "outcome": d.get("outcome", ""),
        "reason": d.get("reason") or "", "record": _dump(d), "tx_id": d.get("tx_id", tx.tx_id),
        "timestamp": float(d.get("timestamp") or tx.timestamp),
    }, ["model_id", "interval"])


def _verifier(cur: Any, v: dict, attrs: list[str], tx: Tx, block: int) -> None:
    cur.upsert("verifiers", {
        "fingerprint": attrs[0], "mspid": v.get("mspid", ""), "common_name": v.get("common_name", ""),
        "name": v.get("name", ""), "status": v.get("status", ""), "record": _dump(v),
        "registered_at": float(v.get("registered_at") or tx.timestamp),
    }, ["fingerprint"])


def _attestation(cur: Any, a: dict, attrs: list[str], tx: Tx, block: int) -> None:
    audit = a.get("audit") or {}
    check = audit.get("check") or {}
    attester = a.get("attester") or {}
    # Why the audit ended as it did: the disputing verifier's words, or why nobody checked.
    reason = (check.get("evidence") or {}).get("reason") or audit.get("reason") or ""
    cur.upsert("attestations", {
        "attestation_id": attrs[0], "model_id": str(a.get("model_id", "")), "count": int(a.get("count") or 0),
        "root": str(a.get("root", "")), "batch_sha256": str((a.get("batch") or {}).get("sha256", "")),
        "attester_fingerprint": attester.get("fingerprint", ""), "attester_msp": attester.get("mspid", ""),
        "attester_cn": attester.get("common_name", ""), "tx_id": a.get("tx_id", tx.tx_id),
        # The first write is the AttestOutput's (block order): its block is kept, later ones update the rest.
        "block_number": block, "timestamp": float(a.get("timestamp") or tx.timestamp),
        "audit_state": str(audit.get("state", "")), "verifier": str(audit.get("verifier") or ""),
        "verifier_msp": str(audit.get("verifier_mspid") or ""), "verdict": str(check.get("verdict") or ""),
        "reason": str(reason), "record": _dump(a), "updated_block": block,
    }, ["attestation_id"], keep=["block_number"])


def _config(cur: Any, c: dict, attrs: list[str], tx: Tx, block: int) -> None:
    cur.upsert("meta", {"key": "contract_config", "value": _dump(c)}, ["key"])


_HANDLERS = {"modelstate": _model_state, "model": _certificate, "assignment": _assignment, "interval": _interval,
             "vote": _vote, "decision": _decision, "verifier": _verifier, "config": _config,
             "attestation": _attestation}
