"""The explorer's database: one schema, SQLite (WAL, embedded default) or PostgreSQL (server option).

The SQL is written once, in the subset both engines share (``?`` placeholders are rewritten to
``%s`` for psycopg, ``INSERT … ON CONFLICT … DO UPDATE`` for upserts, JSON as TEXT, no BLOBs).
Each thread uses its own connection, borrowed from a pool and handed back with ``release()``
(the web server's threads live for one request each): the indexer writes while the web app's
threads read, which SQLite's WAL mode and PostgreSQL both allow without readers blocking the writer.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

# 2: attestations and attestation_txs (signed outputs, issue 17). An index made at version 1 gets the
# new tables empty; Indexer re-projects the attestation writes of the blocks it already holds.
SCHEMA_VERSION = "2"

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Blocks accepted: every check passed. raw is the block as delivered (base64), for audit bundles.
    """CREATE TABLE IF NOT EXISTS blocks (
        number BIGINT PRIMARY KEY, hash TEXT NOT NULL, previous_hash TEXT NOT NULL, data_hash TEXT NOT NULL,
        tx_count INTEGER NOT NULL, timestamp DOUBLE PRECISION NOT NULL, orderer_signatures TEXT NOT NULL,
        is_config INTEGER NOT NULL, indexed_at DOUBLE PRECISION NOT NULL, raw TEXT NOT NULL)""",
    # Blocks refused: a broken hash chain, data hash or signature. Never projected.
    """CREATE TABLE IF NOT EXISTS flagged_blocks (
        number BIGINT NOT NULL, hash TEXT NOT NULL, reasons TEXT NOT NULL, seen_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (number, hash))""",
    """CREATE TABLE IF NOT EXISTS txs (
        block_number BIGINT NOT NULL, tx_index INTEGER NOT NULL, tx_id TEXT NOT NULL, type TEXT NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL, creator_msp TEXT NOT NULL, creator_subject TEXT NOT NULL,
        creator_fingerprint TEXT NOT NULL, creator_ok INTEGER NOT NULL, creator_why TEXT NOT NULL,
        validation_code TEXT NOT NULL, chaincode TEXT NOT NULL, function TEXT NOT NULL, args TEXT NOT NULL,
        response_status INTEGER NOT NULL, response_message TEXT NOT NULL, event_name TEXT NOT NULL,
        event_payload TEXT NOT NULL, rwset TEXT NOT NULL, PRIMARY KEY (block_number, tx_index))""",
    "CREATE INDEX IF NOT EXISTS txs_by_id ON txs (tx_id)",
    "CREATE INDEX IF NOT EXISTS txs_by_time ON txs (timestamp)",
    """CREATE TABLE IF NOT EXISTS endorsements (
        block_number BIGINT NOT NULL, tx_index INTEGER NOT NULL, n INTEGER NOT NULL, mspid TEXT NOT NULL,
        subject TEXT NOT NULL, fingerprint TEXT NOT NULL, ok INTEGER NOT NULL, why TEXT NOT NULL,
        PRIMARY KEY (block_number, tx_index, n))""",
    """CREATE TABLE IF NOT EXISTS models (
        model_id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, parent_id TEXT,
        submitter_fingerprint TEXT NOT NULL, submitter_msp TEXT NOT NULL, submitter_cn TEXT NOT NULL,
        status TEXT NOT NULL, reason TEXT NOT NULL, intervals INTEGER NOT NULL, state TEXT NOT NULL,
        certificate TEXT, submitted_tx TEXT NOT NULL, submitted_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, updated_block BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS models_by_status ON models (status, submitted_at)",
    "CREATE INDEX IF NOT EXISTS models_by_submitted ON models (submitted_at)",
    "CREATE INDEX IF NOT EXISTS models_by_parent ON models (parent_id)",
    "CREATE TABLE IF NOT EXISTS assignments (model_id TEXT PRIMARY KEY, record TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS intervals (
        model_id TEXT NOT NULL, interval INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (model_id, interval))""",
    """CREATE TABLE IF NOT EXISTS votes (
        model_id TEXT NOT NULL, interval INTEGER NOT NULL, verifier TEXT NOT NULL, verdict TEXT NOT NULL,
        round INTEGER NOT NULL, replay_sha256 TEXT NOT NULL, record TEXT NOT NULL, tx_id TEXT NOT NULL,
        block_number BIGINT NOT NULL, timestamp DOUBLE PRECISION NOT NULL, PRIMARY KEY (model_id, interval, verifier))""",
    "CREATE INDEX IF NOT EXISTS votes_by_verifier ON votes (verifier)",
    """CREATE TABLE IF NOT EXISTS decisions (
        model_id TEXT NOT NULL, interval INTEGER NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
        record TEXT NOT NULL, tx_id TEXT NOT NULL, timestamp DOUBLE PRECISION NOT NULL, PRIMARY KEY (model_id, interval))""",
    """CREATE TABLE IF NOT EXISTS verifiers (
        fingerprint TEXT PRIMARY KEY, mspid TEXT NOT NULL, common_name TEXT NOT NULL, name TEXT NOT NULL,
        status TEXT NOT NULL, record TEXT NOT NULL, registered_at DOUBLE PRECISION NOT NULL)""",
    # Every transaction that wrote one of a model's records: its history and its audit bundle.
    """CREATE TABLE IF NOT EXISTS model_txs (
        model_id TEXT NOT NULL, block_number BIGINT NOT NULL, tx_index INTEGER NOT NULL, tx_id TEXT NOT NULL,
        PRIMARY KEY (model_id, block_number, tx_index))""",
    # Signed outputs: each attestation as its latest write left it (AttestOutput, then its audit's transactions).
    # block_number is the AttestOutput's block (written once); the audit columns follow the record.
    """CREATE TABLE IF NOT EXISTS attestations (
        attestation_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, count INTEGER NOT NULL, root TEXT NOT NULL,
        batch_sha256 TEXT NOT NULL, attester_fingerprint TEXT NOT NULL, attester_msp TEXT NOT NULL,
        attester_cn TEXT NOT NULL, tx_id TEXT NOT NULL, block_number BIGINT NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL, audit_state TEXT NOT NULL, verifier TEXT NOT NULL,
        verifier_msp TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL, record TEXT NOT NULL,
        updated_block BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS attestations_by_model ON attestations (model_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS attestations_by_state ON attestations (audit_state, timestamp)",
    # Every transaction that wrote an attestation's record or its seed round: its history.
    """CREATE TABLE IF NOT EXISTS attestation_txs (
        attestation_id TEXT NOT NULL, block_number BIGINT NOT NULL, tx_index INTEGER NOT NULL, tx_id TEXT NOT NULL,
        PRIMARY KEY (attestation_id, block_number, tx_index))""",
    # Any SHA-256 the ledger names, and what it is: search answers "which model, snapshot, dataset or evidence".
    """CREATE TABLE IF NOT EXISTS hashes (
        sha256 TEXT NOT NULL, kind TEXT NOT NULL, model_id TEXT NOT NULL, detail TEXT NOT NULL,
        PRIMARY KEY (sha256, kind, model_id, detail))""",
]


class Database:
    """A thread-safe handle: ``url`` is a SQLite path (or ``sqlite:///path``) or ``postgresql://…``."""

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        self.postgres = text.startswith(("postgresql://", "postgres://"))
        self.url = text
        self.path = None if self.postgres else Path(text.removeprefix("sqlite:///").removeprefix("sqlite://"))
        self._local = threading.local()
        self._all: list[Any] = []
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._lock = threading.Lock()
        with self.transaction() as cur:
            for statement in SCHEMA:
                cur.execute(statement)
            cur.execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
                        ("schema_version", SCHEMA_VERSION))

    @property
    def label(self) -> str:
        """Where the data is, without any password in the URL."""
        if not self.postgres:
            return f"SQLite {self.path}"
        from urllib.parse import urlsplit
        parts = urlsplit(self.url)
        return f"PostgreSQL {parts.hostname or 'socket'}{parts.path}"

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            conn = psycopg.connect(self.url, autocommit=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._all.append(conn)
        return conn

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            self._local.conn = conn
        return conn

    def release(self) -> None:
        """Hand this thread's connection back to the pool (a thread that is about to end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            self._idle.put(conn)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor whose statements commit together or not at all."""
        conn = self.conn
        if self.postgres:
            # Pipeline mode: a block's statements go out without a round trip each (results are not read).
            with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
                yield _Cursor(cur, self)
        else:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Cursor(conn.cursor(), self)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        conn = self.conn
        cur = conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            cur.close()

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        found = self.row(sql, params)
        return default if found is None else next(iter(found.values()))

    def meta(self, key: str, default: str | None = None) -> str | None:
        return self.scalar("SELECT value FROM meta WHERE key = ?", (key,), default)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as cur:
            cur.upsert("meta", {"key": key, "value": value}, ["key"])

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:
                    pass
            self._all.clear()
        self._local = threading.local()
        self._idle = queue.LifoQueue()


class _Cursor:
    """A cursor that speaks the shared dialect: ``?`` placeholders and ``upsert``."""

    def __init__(self, cur: Any, db: Database) -> None:
        self._cur, self._db = cur, db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(self._db._sql(sql), tuple(params))

    def upsert(self, table: str, values: dict[str, Any], key: list[str], update: bool = True,
               keep: Sequence[str] = ()) -> None:
        """Insert, or (``update``) overwrite the row with the same ``key``; else leave it. Columns in
        ``keep`` are written by the insert only (what the first write decided, such as its block)."""
        cols = list(values)
        changed = [c for c in cols if c not in key and c not in keep]
        action = "DO NOTHING" if not update or not changed else \
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in changed)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
               f"ON CONFLICT ({', '.join(key)}) {action}")
        self.execute(sql, [values[c] for c in cols])
