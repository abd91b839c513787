"""Fixtures for the explorer: the real channel's blocks, the demo's models, both databases, a server.

Everything runs against the live network (``make network-up``): blocks come from a peer's
Deliver service, the demo's REJECTED model is the one ``make demo`` submitted (the demo is run
once here if the ledger has none), PostgreSQL is a private server started for the session.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from fabric_protos.common import common_pb2, ledger_pb2

from tests.explorer.pgserver import PostgresServer
from trainproof.explorer.db import Database
from trainproof.explorer.indexer import Indexer
from trainproof.profile import REPO_ROOT

ARTIFACTS = Path(__file__).parent / "artifacts"


def chain_height(network) -> int:
    info = network.get_contract("qscc").evaluate("GetChainInfo", [network.name])
    return ledger_pb2.BlockchainInfo.FromString(info).height


def fetch_blocks(network, start: int, end: int) -> list[common_pb2.Block]:
    """Blocks start..end-1 from the peers' Deliver service."""
    out: list[common_pb2.Block] = []
    if start >= end:
        return out
    stream = network.blocks(start_block=start)
    try:
        for block in stream:
            out.append(block)
            if block.header.number >= end - 1:
                break
    finally:
        stream.close()
    return out


def _demo_ready(contract) -> bool:
    from trainproof.contract import TrainproofContract

    rejected = TrainproofContract(contract).list_models({"status": "REJECTED", "name": "digits-backdoor"})
    return bool(rejected["models"]) and any((REPO_ROOT / ".network" / "demo").glob("*/check/tampered.safetensors"))


@pytest.fixture(scope="session")
def network(connect, profile):
    return connect("org1-user1").get_network(profile.channel)


@pytest.fixture(scope="session")
def demo(profile, contract) -> Path:
    """The demo's run directory (honest, backdoor and child models on the ledger); runs the demo if needed."""
    if not _demo_ready(contract):
        subprocess.run([sys.executable, "-m", "demo"], cwd=REPO_ROOT, check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    runs = sorted((profile.home / "demo").glob("*/check/tampered.safetensors"))
    assert runs, "the demo left no tampered weights file"
    return runs[-1].parent.parent


@pytest.fixture(scope="session")
def chain(network, demo) -> list[common_pb2.Block]:
    """Every block of the channel at the start of the session (the demo's included)."""
    blocks = fetch_blocks(network, 0, chain_height(network))
    assert [b.header.number for b in blocks] == list(range(len(blocks)))
    return blocks


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> Iterator[Database]:
    """A fresh explorer database on each engine."""
    if request.param == "sqlite":
        db = Database(tmp_path / "explorer.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        server.reset()
        db = Database(server.url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session")
def indexed(tmp_path_factory, chain, profile) -> Database:
    """A SQLite index of the whole chain (for the pages, bundles and browser)."""
    db = Database(tmp_path_factory.mktemp("explorer") / "explorer.db")
    indexer = Indexer(db, profile.chaincode)
    assert indexer.ingest_all(chain) is None
    return db


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def live_explorer(profile, tmp_path_factory, indexed):
    """The explorer service (indexer following the network + web server) on an ephemeral port."""
    from trainproof.explorer.service import Explorer

    # A copy of the session's index: the service resumes from its checkpoint (the chain is not indexed again).
    path = tmp_path_factory.mktemp("live") / "explorer.db"
    with sqlite3.connect(indexed.path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    db = Database(path)
    service = Explorer(profile, "org1-user1", db, "127.0.0.1", 0)
    gw = profile.connect("org1-user1")
    height = chain_height(gw.get_network(profile.channel))
    gw.close()
    wait_until(lambda: int(db.meta("next_block", "0")) >= height, 180, f"the explorer to index {height} blocks")
    try:
        yield service
    finally:
        service.stop()



