"""make bench-explorer: does the explorer keep up with the ledger, and how fast are its pages?

1. Live: one indexer per database (SQLite and PostgreSQL, side by side, each fresh) follows
   the running network (make network-up) while ``--txs`` Ping transactions (committed, with an
   empty write set: every network serves Ping) are submitted from ``--concurrency`` threads;
   blocks/s committed (block timestamps) against blocks/s indexed over the same blocks, and how
   far each index trailed the chain when the last one committed.
2. Catch-up: the whole chain indexed again from block 0 off a peer's Deliver service, SQLite and
   PostgreSQL side by side (every check: hash chain, data hashes, every signature).
3. Pages: ``--models`` synthetic models (copies of the demo's REJECTED one with its votes and
   decisions, new ids) in each database; p50/p95 of the model list (first page, a status filter,
   a name search) and of a model page, over ``--requests`` requests each.

Figures are printed, not asserted: they depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fabric_protos.common import ledger_pb2

from tests.explorer.pgserver import PostgresServer
from trainproof.explorer.db import Database
from trainproof.explorer.indexer import Indexer
from trainproof.explorer.web import App, serve
from trainproof.profile import Profile


def height(network) -> int:
    return ledger_pb2.BlockchainInfo.FromString(
        network.get_contract("qscc").evaluate("GetChainInfo", [network.name])).height


def follow_until(db: Database, network, chaincode: str, target: int, timeout: float) -> dict[int, float]:
    """Index from the checkpoint until ``target`` blocks are in; block number → when it was indexed."""
    indexer = Indexer(db, chaincode)
    seen: dict[int, float] = {}
    indexer.listeners.append(lambda o: seen.__setitem__(o.number, time.time()) if o.accepted else None)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.follow, args=(network, stop), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while indexer.next_block < target and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    return seen


def live(profile: Profile, txs: int, concurrency: int, urls: dict[str, str]) -> dict[str, Any]:
    """One burst of ``txs`` transactions, one indexer per database following it side by side."""
    with profile.connect("org1-user1") as gw:
        network = gw.get_network(profile.channel)
        contract = network.get_contract(profile.chaincode)
        dbs = {label: Database(url) for label, url in urls.items()}
        start_height = height(network)
        for db in dbs.values():
            follow_until(db, network, profile.chaincode, start_height, 600)  # the backlog first
        done: dict[str, dict[int, float]] = {label: {} for label in dbs}
        indexers, threads, stop = {}, [], threading.Event()
        for label, db in dbs.items():
            indexer = indexers[label] = Indexer(db, profile.chaincode)
            indexer.listeners.append(lambda o, seen=done[label]: seen.__setitem__(o.number, time.time()) if o.accepted else None)
            threads.append(threading.Thread(target=indexer.follow, args=(network, stop), daemon=True))
            threads[-1].start()
        began = time.time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(lambda i: contract.submit("Ping"), range(txs)))
        committed_at = time.time()
        end_height = height(network)
        lag = {label: end_height - ix.next_block for label, ix in indexers.items()}
        caught_up: dict[str, float] = {}
        deadline = time.monotonic() + 300
        while len(caught_up) < len(indexers) and time.monotonic() < deadline:
            for label, ix in indexers.items():
                if label not in caught_up and ix.next_block >= end_height:
                    caught_up[label] = time.time() - committed_at
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(10)
        first = next(iter(dbs.values()))
        stamps = {r["number"]: r["timestamp"] for r in first.rows(
            "SELECT number, timestamp FROM blocks WHERE number >= ? AND number < ?", (start_height, end_height))}
        blocks = end_height - start_height
        commit_span = max(stamps.values()) - min(stamps.values()) if len(stamps) > 1 else 0.0
        result: dict[str, Any] = {"txs": txs, "blocks": blocks, "submit_s": committed_at - began,
                                  "committed_blocks_per_s": blocks / commit_span if commit_span else float("nan")}
        for label in dbs:
            indexed = [done[label][n] for n in range(start_height, end_height) if n in done[label]]
            span = max(indexed) - min(indexed) if len(indexed) > 1 else 0.0
            result[label] = {"indexed_blocks_per_s": len(indexed) / span if span else float("nan"),
                             "lag_blocks_at_last_commit": lag[label], "caught_up_after_s": caught_up.get(label)}
        for db in dbs.values():
            db.close()
        return result


def catch_up(profile: Profile, url: str, label: str) -> dict[str, Any]:
    with profile.connect("org1-user1") as gw:
        network = gw.get_network(profile.channel)
        target = height(network)
        db = Database(url)
        start = time.perf_counter()
        follow_until(db, network, profile.chaincode, target, 1800)
        wall = time.perf_counter() - start
        txs = db.scalar("SELECT COUNT(*) FROM txs")
        db.close()
        return {"db": label, "blocks": target, "txs": txs, "blocks_per_s": target / wall, "txs_per_s": txs / wall}


def populate(db: Database, source: Database, models: int) -> str:
    """``models`` copies of the source's REJECTED model (state, certificate, assignment, intervals,
    votes, decisions) under new ids, a tenth of them VERIFIED; returns one copy's id."""
    m = source.row("SELECT * FROM models WHERE status = 'REJECTED' ORDER BY submitted_at DESC")
    mid = m["model_id"]
    related = {t: source.rows(f"SELECT * FROM {t} WHERE model_id = ?", (mid,))
               for t in ("assignments", "intervals", "votes", "decisions", "model_txs")}
    for t in ("blocks", "txs", "endorsements", "verifiers", "meta"):
        rows = source.rows(f"SELECT * FROM {t}")
        key = {"blocks": ["number"], "txs": ["block_number", "tx_index"], "endorsements": ["block_number", "tx_index", "n"],
               "verifiers": ["fingerprint"], "meta": ["key"]}[t]
        with db.transaction() as cur:
            for r in rows:
                cur.upsert(t, r, key)
    sample = ""
    batch = 500
    for start in range(0, models, batch):
        with db.transaction() as cur:
            for i in range(start, min(models, start + batch)):
                new = str(uuid.uuid4())
                sample = sample or new
                row = {**m, "model_id": new, "name": f"bench-{i % 97}", "submitted_at": m["submitted_at"] + i,
                       "status": "VERIFIED" if i % 10 == 0 else m["status"]}
                cur.upsert("models", row, ["model_id"])
                for t, rows in related.items():
                    key = {"assignments": ["model_id"], "intervals": ["model_id", "interval"],
                           "votes": ["model_id", "interval", "verifier"], "decisions": ["model_id", "interval"],
                           "model_txs": ["model_id", "block_number", "tx_index"]}[t]
                    for r in rows:
                        cur.upsert(t, {**r, "model_id": new}, key)
    return sample


def latency(url: str, n: int) -> dict[str, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def pages(source: Database, url: str, label: str, models: int, requests: int) -> list[dict[str, Any]]:
    db = Database(url)
    sample = populate(db, source, models)
    server = serve(App(db), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out = []
    try:
        for name, path in [("model list", "/models"), ("model list, status filter", "/models?status=VERIFIED"),
                           ("model list, name search", "/models?name=bench-42"), ("model page", f"/model/{sample}")]:
            latency(base + path, 3)  # warm
            out.append({"db": label, "page": name, "models": db.scalar("SELECT COUNT(*) FROM models"),
                        **latency(base + path, requests)})
    finally:
        server.shutdown()
        db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=10_000, help="transactions submitted in the live phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    profile = Profile.load()
    pg = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"live: {args.txs} Ping transactions from {args.concurrency} threads, an indexer per database "
                  "following", flush=True)
            result = live(profile, args.txs, args.concurrency, {"SQLite": str(Path(tmp) / "live.db"), "PostgreSQL": pg.url})
            print(f"  {result['blocks']} blocks committed in {result['submit_s']:.1f}s: "
                  f"{result['committed_blocks_per_s']:.1f} blocks/s", flush=True)
            for label in ("SQLite", "PostgreSQL"):
                r = result[label]
                caught = "not caught up in 300 s" if r["caught_up_after_s"] is None else \
                    f"caught up {r['caught_up_after_s']:.1f}s after the last commit"
                print(f"  {label:<10} indexed {r['indexed_blocks_per_s']:.1f} blocks/s; "
                      f"{r['lag_blocks_at_last_commit']} block(s) behind at the last commit, {caught}", flush=True)
            pg.reset()
            print("catch-up: the whole chain from block 0, every check", flush=True)
            for label, url in (("SQLite", str(Path(tmp) / "catchup.db")), ("PostgreSQL", pg.url)):
                r = catch_up(profile, url, label)
                print(f"  {label:<10} {r['blocks']} blocks, {r['txs']} txs: {r['blocks_per_s']:.1f} blocks/s, "
                      f"{r['txs_per_s']:.1f} txs/s", flush=True)
            source = Database(str(Path(tmp) / "catchup.db"))
            pg.reset()
            print(f"pages: {args.models} models, {args.requests} requests each (p50 / p95)", flush=True)
            rows = pages(source, str(Path(tmp) / "pages.db"), "SQLite", args.models, args.requests)
            rows += pages(source, pg.url, "PostgreSQL", args.models, args.requests)
            source.close()
    finally:
        pg.stop()
    by_page: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_page.setdefault(r["page"], {})[r["db"]] = r
    print(f"  {'page':<28} {'SQLite p50/p95 ms':>20} {'PostgreSQL p50/p95 ms':>24}")
    for page, dbs in by_page.items():
        s, p = dbs["SQLite"], dbs["PostgreSQL"]
        print(f"  {page:<28} {s['p50_ms']:>9.1f} / {s['p95_ms']:<8.1f} {p['p50_ms']:>11.1f} / {p['p95_ms']:<8.1f}")
    print(json.dumps({"live": result, "pages": rows}, default=str))


if __name__ == "__main__":
    main()
