"""The explorer as one process: the indexer following the channel, the height poller, the web server.

It reads the ledger as one identity of the network profile (any channel member may read blocks),
so another org runs its own explorer with its own identity and database: nothing is shared.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from trainproof.explorer import bundle
from trainproof.explorer.db import Database
from trainproof.explorer.indexer import Indexer, poll_height
from trainproof.explorer.web import App, serve
from trainproof.profile import Profile

log = logging.getLogger("trainproof.explorer")
HEALTH_TTL = 10.0


def default_db(profile: Profile) -> Path:
    return profile.home / "explorer" / "explorer.db"


class NodeHealth:
    """Each peer's and orderer's operations ``/healthz`` (TLS, the node's CA), cached for a few seconds."""

    def __init__(self, profile: Profile) -> None:
        raw = json.loads((profile.home / "profile.json").read_text())
        self.nodes = [n for n in raw.get("peers", []) + raw.get("orderers", []) if n.get("operations")]
        self._cache: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._lock = threading.Lock()

    def _probe(self, node: dict[str, Any]) -> dict[str, Any]:
        ctx = ssl.create_default_context(cafile=node["tls_ca"])
        ctx.check_hostname = False  # the operations certificate names the node's host, not 127.0.0.1
        try:
            with urllib.request.urlopen(node["operations"] + "/healthz", timeout=2, context=ctx) as r:
                ok = json.loads(r.read()).get("status") == "OK"
                return {"name": node["name"], "mspid": node.get("mspid", ""), "ok": ok, "why": "" if ok else "not OK"}
        except Exception as exc:
            return {"name": node["name"], "mspid": node.get("mspid", ""), "ok": False, "why": type(exc).__name__}

    def __call__(self) -> list[dict[str, Any]]:
        with self._lock:
            at, result = self._cache
            if time.monotonic() - at > HEALTH_TTL:
                result = [self._probe(n) for n in self.nodes]
                self._cache = (time.monotonic(), result)
            return result


def artifact_fetcher(org: str):
    """(sha256, directory) → the artifact downloaded there, hash-checked by the store (read as ``org``'s
    submitter key: it may read every bucket, write none of the explorer's business)."""
    from trainproof.storage import ArtifactStore

    def fetch(sha256: str, directory: Path) -> Path:
        with ArtifactStore.from_state(role="submitter", org=org) as store:
            return store.get_file(sha256, sha256, directory / sha256)

    return fetch


class Explorer:
    """Starts the indexer and the web server; ``stop()`` ends both."""

    def __init__(self, profile: Profile, identity: str, db: Database, host: str, port: int,
                 token: str | None = None) -> None:
        self.profile, self.db = profile, db
        self.gateway = profile.connect(identity)
        self.network = self.gateway.get_network(profile.channel)
        self.indexer = Indexer(db, profile.chaincode)
        self.stop_event = threading.Event()
        org = profile.identity_files(identity).mspid.removesuffix("MSP").lower()
        self.app = App(db, token, NodeHealth(profile),
                       lambda mid: bundle.build(db, mid, profile.channel, profile.chaincode), artifact_fetcher(org))
        self.server = serve(self.app, host, port)
        self.threads = [
            threading.Thread(target=self.indexer.follow, args=(self.network, self.stop_event), name="indexer", daemon=True),
            threading.Thread(target=poll_height, args=(db, self.network, profile.channel, self.stop_event),
                             name="height", daemon=True),
        ]
        for t in self.threads:
            t.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self.stop_event.set()
        self.app.stopping.set()
        self.server.shutdown()
        self.gateway.close()
        for t in self.threads:
            t.join(timeout=5)
        self.db.close()
