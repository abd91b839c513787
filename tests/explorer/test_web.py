"""The web app without a browser: every page answers on the real index, ledger text is escaped,
and access off the loopback needs the token."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from trainproof.explorer import pages
from trainproof.explorer.db import Database
from trainproof.explorer.web import App, serve
from trainproof.profile import REPO_ROOT

pytestmark = [pytest.mark.explorer, pytest.mark.network]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def server(indexed):
    httpd = serve(App(indexed), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_every_page_answers(server, indexed):
    model = indexed.row("SELECT model_id FROM models WHERE status = 'REJECTED'")["model_id"]
    tx = indexed.row("SELECT tx_id FROM txs WHERE function = 'SubmitVote'")["tx_id"]
    sha = indexed.row("SELECT sha256 FROM hashes WHERE kind = 'snapshot'")["sha256"]
    for path in ["/", "/blocks", "/block/0", "/block/3", f"/tx/{tx}", "/models", "/models?status=REJECTED&name=digits",
                 f"/model/{model}", f"/model/{model}/tree", f"/model/{model}/live", "/verifiers", "/check",
                 f"/search?q={sha}", "/attestations", "/attestations?audit=DISPUTED"]:
        status, body = _get(server + path)
        assert status == 200, (path, body[:300])
    status, body = _get(f"{server}/model/{model}/bundle.json")
    assert status == 200 and json.loads(body)["model_id"] == model
    assert _get(server + "/model/00000000-0000-0000-0000-000000000000")[0] == 404
    status, body = _get(f"{server}/search?q={model[:8]}")
    assert status == 200


def test_ledger_text_is_escaped(tmp_path):
    """A submitter chooses its model's name and a verifier its reason: neither may become markup."""
    db = Database(tmp_path / "x.db")
    evil = '<script>alert("x")</script>'
    with db.transaction() as cur:
        cur.upsert("models", {"model_id": "11111111-1111-1111-1111-111111111111", "name": evil, "version": "1",
                              "parent_id": None, "submitter_fingerprint": "ab", "submitter_msp": "Org1MSP",
                              "submitter_cn": evil, "status": "REJECTED", "reason": evil, "intervals": 1,
                              "state": json.dumps({"rejected_intervals": [0]}), "certificate": json.dumps({"dataset": {"name": evil}}),
                              "submitted_tx": "t", "submitted_at": 1.0, "updated_at": 2.0, "updated_block": 1}, ["model_id"])
    for html in (pages.models_page(db, {}), pages.model_page(db, "11111111-1111-1111-1111-111111111111"),
                 pages.dashboard(db, []), pages.tree_page(db, "11111111-1111-1111-1111-111111111111")):
        assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    db.close()


def test_token_required_when_asked(indexed, tmp_path):
    httpd = serve(App(indexed, token="t" * 24), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        assert _get(url)[0] == 401
        assert _get(url, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert _get(url, {"Authorization": "Bearer " + "t" * 24})[0] == 200
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(url + "?token=" + "t" * 24, timeout=30) as r:  # redirected; the cookie carries it on
            assert r.status == 200 and r.url == url
    finally:
        httpd.shutdown()


def test_binding_off_the_loopback_needs_a_token_file():
    done = subprocess.run([sys.executable, "-m", "trainproof.cli", "explorer", "--host", "0.0.0.0", "--port", "1"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "requires a token" in done.stderr and "--token-file" in done.stderr


def test_read_only(server):
    request = urllib.request.Request(server + "/models", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_artifacts_download_hash_checked(indexed, tmp_path):
    """A snapshot and a vote's evidence, through the explorer from MinIO: exactly the ledger's bytes."""
    import hashlib

    from trainproof.explorer.service import artifact_fetcher

    fetched: list[str] = []

    def fetch(sha, directory):
        fetched.append(sha)
        return artifact_fetcher("org1")(sha, directory)

    httpd = serve(App(indexed, artifact=fetch), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for kind in ("snapshot", "evidence"):
            sha = indexed.row("SELECT sha256 FROM hashes WHERE kind = ?", (kind,))["sha256"]
            with urllib.request.urlopen(f"{base}/artifact/{sha}", timeout=60) as r:
                assert hashlib.sha256(r.read()).hexdigest() == sha and r.headers["X-Checksum-SHA256"] == sha
        assert _get(f"{base}/artifact/{'ab' * 32}")[0] == 404  # not an artifact the ledger names: never fetched
        assert "ab" * 32 not in fetched
    finally:
        httpd.shutdown()


def test_a_disagreeing_replay_hash_is_marked(tmp_path):
    """Two members replayed to the same bytes, the third claims other bytes: its cell is marked."""
    db = Database(tmp_path / "grid.db")
    mid = "22222222-2222-2222-2222-222222222222"
    with db.transaction() as cur:
        cur.upsert("intervals", {"model_id": mid, "interval": 4, "record": json.dumps(
            {"verifiers": ["a" * 64, "b" * 64, "c" * 64], "reasons": ["audit"]})}, ["model_id", "interval"])
        for fp, verdict, replay in (("a", "REJECT", "1" * 64), ("b", "REJECT", "1" * 64), ("c", "ACCEPT", "2" * 64)):
            cur.upsert("votes", {"model_id": mid, "interval": 4, "verifier": fp * 64, "verdict": verdict, "round": 0,
                                 "replay_sha256": replay, "record": json.dumps({"evidence": {"replay_sha256": replay}}),
                                 "tx_id": fp * 64, "block_number": 9, "timestamp": 1.0}, ["model_id", "interval", "verifier"])
    grid = pages.vote_grid(db, mid)
    assert grid.count('class="vote disagree"') == 1
    marked = grid.split('class="vote disagree"')[1].split("</td>")[0]
    assert 'data-verdict="ACCEPT"' in marked and "≠ replay" in marked
    db.close()
