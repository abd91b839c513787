"""The explorer's web server: read-only pages over the index, server-sent events, the file check.

A stdlib ``ThreadingHTTPServer``: no framework, no front-end build; each request reads the
database through its own thread's connection. It answers GET (and the file check's POST, which
stores nothing). Bound to a loopback address it is open to whoever can reach the machine's
loopback; bound to any other address it refuses every request that lacks the token from
``token_file`` (``Authorization: Bearer TOKEN``, or ``?token=`` once, which sets a cookie).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from trainproof.explorer import pages
from trainproof.explorer.bundle import BundleError
from trainproof.explorer.bundle import build as build_bundle
from trainproof.explorer.db import Database

log = logging.getLogger("trainproof.explorer")
MAX_UPLOAD = 512 * 1024 * 1024
SSE_POLL = 0.5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class App:
    """What the handler needs: the database, the token (None: open), node health and bundles."""

    def __init__(self, db: Database, token: str | None = None, health: Callable[[], list[dict[str, Any]]] | None = None,
                 bundle: Callable[[str], dict[str, Any]] | None = None,
                 artifact: Callable[[str, Path], Path] | None = None) -> None:
        self.db, self.token = db, token
        self.artifact = artifact  # (sha256, directory) → a file with exactly those bytes, or an exception
        self.health = health or (lambda: [])
        self.bundle = bundle or (lambda model_id: build_bundle(db, model_id))
        self.stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server_version = "trainproof-explorer"
    app: App  # set on the subclass made by serve()

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    # ---- plumbing ----------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # Pages carry only their own inline scripts; nothing from the ledger can add one (escaped).
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                         "style-src 'unsafe-inline'; img-src 'self' data:")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, text: str, status: int = 200) -> None:
        self._send(status, text.encode("utf-8"))

    def _json(self, data: Any, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json", extra)

    def _authorized(self, query: dict[str, str]) -> tuple[bool, dict[str, str]]:
        token = self.app.token
        if token is None:
            return True, {}
        offered = ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            offered = auth[7:].strip()
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "explorer_token":
                offered = offered or value
        if query.get("token"):
            offered = query["token"]
            if hmac.compare_digest(offered, token):
                return True, {"Set-Cookie": f"explorer_token={token}; HttpOnly; SameSite=Strict; Path=/"}
        return hmac.compare_digest(offered, token), {}

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            self._route(method)
        finally:
            self.app.db.release()  # this thread ends with the request

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        ok, cookie = self._authorized(query)
        if not ok:
            self._send(401, b"this explorer needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN once\n",
                       "text/plain; charset=utf-8", {"WWW-Authenticate": "Bearer"})
            return
        db = self.app.db
        parts = [p for p in url.path.split("/") if p]
        try:
            if method == "POST":
                if parts == ["api", "check"]:
                    return self._check(query)
                return self._send(405, b"read-only\n", "text/plain")
            if cookie and "token" in query:  # drop the token from the address bar
                return self._send(303, b"", extra={"Location": url.path, **cookie})
            if not parts:
                return self._html(pages.dashboard(db, self.app.health()))
            head = parts[0]
            if head == "events":
                return self._events()
            if head == "api" and parts[1:] == ["summary"]:
                return self._json(pages.summary(db))
            if head == "blocks":
                return self._html(pages.blocks_page(db, int(query["before"]) if query.get("before") else None))
            if head == "block" and len(parts) == 2:
                return self._html(pages.block_page(db, int(parts[1])))
            if head == "tx" and len(parts) == 2:
                return self._html(pages.tx_page(db, parts[1].lower()))
            if head == "models":
                return self._html(pages.models_page(db, query))
            if head == "model" and len(parts) >= 2:
                mid = parts[1].lower()
                if len(parts) == 2:
                    return self._html(pages.model_page(db, mid))
                if parts[2:] == ["live"]:
                    return self._html(pages.model_live(db, mid))
                if parts[2:] == ["tree"]:
                    return self._html(pages.tree_page(db, mid))
                if parts[2:] == ["bundle.json"]:
                    return self._json(self.app.bundle(mid), extra={
                        "Content-Disposition": f'attachment; filename="trainproof-audit-{mid[:8]}.json"'})
            if head == "attestations" and len(parts) <= 2:
                if len(parts) == 1:
                    return self._html(pages.attestations_page(db, query))
                return self._html(pages.attestation_page(db, parts[1].lower()))
            if head == "verifiers":
                return self._html(pages.verifiers_page(db))
            if head == "search":
                target, page = pages.search(db, query.get("q", ""))
                return self._send(303, b"", extra={"Location": target}) if target else self._html(page)
            if head == "artifact" and len(parts) == 2:
                return self._artifact(parts[1].lower())
            if head == "check":
                return self._html(pages.check_page(db, query.get("model", "")))
            raise pages.NotFound(f"no page {url.path}")
        except (pages.NotFound, BundleError) as exc:
            self._html(pages.error_page(db, "not found", str(exc)), 404)
        except (ValueError, KeyError) as exc:
            self._html(pages.error_page(db, "bad request", str(exc)), 400)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- server-sent events -------------------------------------------------------------------
    def _events(self) -> None:
        """An ``update`` event (the dashboard summary) now and whenever the index or the height moves."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        last = None
        try:
            while not self.app.stopping.is_set():
                mark = (self.app.db.meta("next_block"), self.app.db.meta("chain_height"))
                if mark != last:
                    data = json.dumps(pages.summary(self.app.db), default=str)
                    self.wfile.write(f"event: update\ndata: {data}\n\n".encode())
                    self.wfile.flush()
                    last = mark
                else:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                time.sleep(SSE_POLL)
        except (BrokenPipeError, ConnectionResetError):
            return

    # ---- artifacts ----------------------------------------------------------------------------------
    def _artifact(self, sha: str) -> None:
        """An artifact the ledger names (snapshot, dataset manifest, evidence), fetched from storage
        and sent only if its bytes hash to that SHA-256 (the store checks; so does this)."""
        kinds = {r["kind"] for r in self.app.db.rows("SELECT kind FROM hashes WHERE sha256 = ?", (sha,))}
        if not kinds & {"snapshot", "dataset", "evidence"}:
            raise pages.NotFound(f"no snapshot, dataset or evidence on the ledger has SHA-256 {sha}")
        if self.app.artifact is None:
            raise pages.NotFound("this explorer has no access to the artifact store")
        with tempfile.TemporaryDirectory(prefix="explorer-artifact-") as tmp:
            try:
                path = self.app.artifact(sha, Path(tmp))
            except Exception as exc:  # unreachable store, or bytes that do not match: nothing is sent
                return self._html(pages.error_page(self.app.db, "artifact unavailable", f"{type(exc).__name__}: {exc}"), 502)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != sha:
                return self._html(pages.error_page(self.app.db, "artifact refused", "its bytes do not match the ledger"), 502)
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Disposition", f'attachment; filename="{sha[:16]}.{sorted(kinds)[0]}"')
            self.send_header("X-Checksum-SHA256", sha)
            self.end_headers()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    self.wfile.write(chunk)

    # ---- the file check -----------------------------------------------------------------------
    def _check(self, query: dict[str, str]) -> None:
        """The uploaded file's SHA-256, which ledger artifacts have it, and (with ``model``) which
        layers differ from that model's hash chain. Nothing is kept."""
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_UPLOAD:
            return self._json({"error": f"send the file as the request body (1 byte to {MAX_UPLOAD >> 20} MiB)"}, 400)
        db = self.app.db
        model_id = query.get("model", "").strip().lower()
        cert = None
        if model_id:
            raw = db.scalar("SELECT certificate FROM models WHERE model_id = ?", (model_id,))
            if raw is None:
                return self._json({"error": f"model {model_id} is not indexed"}, 404)
            cert = json.loads(raw)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(prefix="explorer-check-", suffix=".safetensors") as tmp:
            left = length
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                digest.update(chunk)
                tmp.write(chunk)
                left -= len(chunk)
            tmp.flush()
            sha = digest.hexdigest()
            matches = db.rows("SELECT kind, model_id, detail FROM hashes WHERE sha256 = ? AND kind != 'weights'", (sha,))
            result: dict[str, Any] = {"sha256": sha, "matches": matches, "model": model_id or None,
                                      "differing": None, "chain_error": None}
            try:
                from trainproof.ml.hashchain import diff_layers, layer_chain  # torch: loaded on the first check only

                chain = layer_chain(Path(tmp.name))["chain"]
                matches += db.rows("SELECT kind, model_id, detail FROM hashes WHERE sha256 = ? AND kind = 'weights'",
                                   (chain[-1],))
                if cert is not None:
                    result["differing"] = diff_layers(Path(tmp.name), cert["layer_hashes"])
            except Exception as exc:  # not a safetensors file, or not this architecture
                result["chain_error"] = f"{type(exc).__name__}: {exc}"
        self._json(result)


def serve(app: App, host: str, port: int) -> ThreadingHTTPServer:
    """A started server (its own thread); ``shutdown()`` stops it."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="explorer-http", daemon=True).start()
    return server


def read_token(path: str | os.PathLike) -> str:
    token = Path(path).read_text().strip()
    if len(token) < 16:
        raise ValueError(f"the token in {path} is shorter than 16 characters")
    return token
