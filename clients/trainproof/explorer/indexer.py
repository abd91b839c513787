"""The indexer: full blocks from the peers' Deliver service, checked, then projected into the database.

Blocks are taken strictly in order from block 0 (the channel's genesis block, the trust anchor).
A block is accepted only if its ``previous_hash`` is the hash of the block accepted before it,
its data hash matches its transactions, its orderer signatures verify against the orderer MSP
of the channel config in force, and every transaction the peer marked VALID carries a creator
signature and endorsements that verify against their MSPs. An accepted block is written in one
database transaction together with the checkpoint (the next block number and the last hash), so
a restart resumes exactly after the last accepted block: no block twice, none skipped. A block
that fails a check is recorded in ``flagged_blocks`` and not projected; the indexer then asks
for it again (another peer may serve the genuine one) and never moves past it.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from fabric_protos.common import common_pb2

from trainproof.explorer import signatures
from trainproof.explorer.db import SCHEMA_VERSION, Database
from trainproof.explorer.decode import Block, ChannelConfig, Tx, channel_config, decode_block
from trainproof.explorer.project import ATTESTATION_FUNCTIONS, ATTESTATION_TYPES, project

log = logging.getLogger("trainproof.explorer")


@dataclass
class Outcome:
    number: int
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    duplicate: bool = False


def _hex(b: bytes) -> str:
    return b.hex()


def _rwset(tx: Tx) -> list[dict[str, Any]]:
    """Reads and writes for display; values as text (the contract's are JSON), shortened."""
    out = [{"op": "read", **r} for r in tx.reads]
    for namespace, w in tx.writes:
        try:
            value = w.value.decode("utf-8")
        except UnicodeDecodeError:
            value = "0x" + w.value.hex()
        out.append({"op": "delete" if w.is_delete else "write", "namespace": namespace, "key": w.key,
                    "value": value[:4000], "size": len(w.value)})
    return out


class Indexer:
    """Checks and projects blocks into ``db``; ``chaincode`` is the contract whose records are decoded."""

    def __init__(self, db: Database, chaincode: str = "trainproof") -> None:
        self.db, self.chaincode = db, chaincode
        self.config = self._load_config()
        self.listeners: list[Callable[[Outcome], None]] = []
        if db.meta("schema_version") == "1":
            self._add_attestations()

    def _add_attestations(self) -> None:
        """Schema 1 → 2: the blocks already accepted may hold attestations (indexed before the explorer
        projected them); their writes are projected now, in block order, from the blocks as stored."""
        marks = ", ".join("?" for _ in ATTESTATION_FUNCTIONS)
        numbers = [r["block_number"] for r in self.db.rows(
            f"SELECT DISTINCT block_number FROM txs WHERE chaincode = ? AND validation_code = 'VALID' "
            f"AND function IN ({marks}) ORDER BY block_number", (self.chaincode, *ATTESTATION_FUNCTIONS))]
        # Read before writing: PostgreSQL's pipelined transaction does not read results.
        raws = [(n, self.db.scalar("SELECT raw FROM blocks WHERE number = ?", (n,))) for n in numbers]
        with self.db.transaction() as cur:
            for number, raw in raws:
                for tx in decode_block(common_pb2.Block.FromString(base64.b64decode(raw))).txs:
                    if tx.valid and tx.chaincode == self.chaincode and tx.function in ATTESTATION_FUNCTIONS:
                        project(cur, tx, number, self.chaincode, ATTESTATION_TYPES)
            cur.upsert("meta", {"key": "schema_version", "value": SCHEMA_VERSION}, ["key"])
        log.info("schema %s: attestations of %d indexed block(s) projected", SCHEMA_VERSION, len(numbers))

    # ---- the checkpoint ------------------------------------------------------------------------
    @property
    def next_block(self) -> int:
        return int(self.db.meta("next_block", "0"))

    @property
    def last_hash(self) -> str:
        return self.db.meta("last_hash", "") or ""

    def _load_config(self) -> ChannelConfig | None:
        """The channel config in force: the newest accepted config block's, read back after a restart."""
        number = self.db.meta("config_block")
        if number is None:
            return None
        raw = self.db.scalar("SELECT raw FROM blocks WHERE number = ?", (int(number),))
        block = decode_block(common_pb2.Block.FromString(base64.b64decode(raw)))
        return channel_config(next(t.config for t in block.txs if t.config is not None))

    # ---- ingest --------------------------------------------------------------------------------
    def ingest(self, raw_block: common_pb2.Block) -> Outcome:
        """Check one block and, if it passes, project it with the checkpoint in one DB transaction."""
        expected = self.next_block
        number = raw_block.header.number
        if number < expected:
            return Outcome(number, False, ["already indexed"], duplicate=True)
        if number > expected:
            return Outcome(number, False, [f"gap: block {expected} is next"])
        block = decode_block(raw_block)
        reasons, orderers, txs = signatures.check_block(block, self.config, self.last_hash)
        if reasons:
            self._flag(block, reasons)
            outcome = Outcome(number, False, reasons)
        else:
            self._accept(block, orderers, txs)
            outcome = Outcome(number, True)
        for listener in self.listeners:
            listener(outcome)
        return outcome

    def _flag(self, block: Block, reasons: list[str]) -> None:
        log.error("block %d refused: %s", block.number, "; ".join(reasons))
        with self.db.transaction() as cur:
            cur.upsert("flagged_blocks", {"number": block.number, "hash": _hex(block.hash),
                                          "reasons": json.dumps(reasons), "seen_at": time.time()},
                       ["number", "hash"])

    def _accept(self, block: Block, orderers: list[dict[str, Any]], txs: list[tuple[Tx, Any, list]]) -> None:
        config_tx = next((t for t in block.txs if t.config is not None), None)
        with self.db.transaction() as cur:
            cur.upsert("blocks", {
                "number": block.number, "hash": _hex(block.hash), "previous_hash": _hex(block.previous_hash),
                "data_hash": _hex(block.data_hash), "tx_count": len(block.txs), "timestamp": block.timestamp,
                "orderer_signatures": json.dumps(orderers), "is_config": int(config_tx is not None),
                "indexed_at": time.time(), "raw": base64.b64encode(block.raw).decode(),
            }, ["number"])
            for tx, creator, endorsements in txs:
                self._write_tx(cur, block, tx, creator, endorsements)
                if tx.valid and tx.chaincode == self.chaincode:
                    project(cur, tx, block.number, self.chaincode)
            cur.upsert("meta", {"key": "next_block", "value": str(block.number + 1)}, ["key"])
            cur.upsert("meta", {"key": "last_hash", "value": _hex(block.hash)}, ["key"])
            if config_tx is not None:
                cur.upsert("meta", {"key": "config_block", "value": str(block.number)}, ["key"])
        if config_tx is not None:  # in force from the next block on
            self.config = channel_config(config_tx.config)

    def _write_tx(self, cur: Any, block: Block, tx: Tx, creator: signatures.Check,
                  endorsements: list[signatures.Check]) -> None:
        c = tx.creator
        cur.upsert("txs", {
            "block_number": block.number, "tx_index": tx.index, "tx_id": tx.tx_id, "type": tx.type,
            "timestamp": tx.timestamp, "creator_msp": c.mspid if c else "", "creator_subject": c.subject if c else "",
            "creator_fingerprint": c.fingerprint if c else "", "creator_ok": int(bool(creator)),
            "creator_why": creator.why, "validation_code": tx.validation_code, "chaincode": tx.chaincode,
            "function": tx.function, "args": json.dumps(tx.args), "response_status": tx.response_status,
            "response_message": tx.response_message, "event_name": tx.event_name,
            "event_payload": tx.event_payload.decode("utf-8", "replace"), "rwset": json.dumps(_rwset(tx)),
        }, ["block_number", "tx_index"])
        for n, (e, check) in enumerate(zip(tx.endorsements, endorsements)):
            cur.upsert("endorsements", {
                "block_number": block.number, "tx_index": tx.index, "n": n, "mspid": e.signer.mspid,
                "subject": e.signer.subject, "fingerprint": e.signer.fingerprint, "ok": int(bool(check)),
                "why": check.why,
            }, ["block_number", "tx_index", "n"])

    # ---- following the network -------------------------------------------------------------------
    def ingest_all(self, blocks: Iterable[common_pb2.Block], stop: threading.Event | None = None) -> Outcome | None:
        """Ingest blocks until one is refused (returned) or the iterable ends/``stop`` is set."""
        for raw in blocks:
            outcome = self.ingest(raw)
            if not outcome.accepted and not outcome.duplicate:
                return outcome
            if stop is not None and stop.is_set():
                break
        return None

    def follow(self, network: Any, stop: threading.Event, retry_seconds: float = 5.0) -> None:
        """Index ``network``'s blocks from the checkpoint on, until ``stop``; a refused block is asked for
        again after ``retry_seconds`` (a fresh stream, possibly from another peer)."""
        current: list[Any] = []

        def close_on_stop() -> None:  # a stream waiting for the next block ends only when closed
            stop.wait()
            for stream in current:
                stream.close()

        threading.Thread(target=close_on_stop, name="indexer-closer", daemon=True).start()
        while not stop.is_set():
            stream = network.blocks(start_block=self.next_block)
            current[:] = [stream]
            try:
                refused = self.ingest_all(stream, stop)
            finally:
                stream.close()
            if refused is not None:
                stop.wait(retry_seconds)


def poll_height(db: Database, network: Any, channel: str, stop: threading.Event, every: float = 2.0) -> None:
    """The channel's height as a peer reports it (qscc), for "indexed to block N of height M"."""
    from fabric_protos.common import ledger_pb2

    qscc = network.get_contract("qscc")
    while not stop.is_set():
        try:
            info = ledger_pb2.BlockchainInfo.FromString(qscc.evaluate("GetChainInfo", [channel]))
            db.set_meta("chain_height", str(info.height))
            db.set_meta("chain_height_at", str(time.time()))
        except Exception as exc:  # the peer may be restarting; the page then shows the last height known
            log.warning("no channel height: %s", exc)
        stop.wait(every)
