"""The explorer's pages: database rows in, HTML out (templates.py escapes every ledger value).

Each page reads only the index, which holds only blocks that passed every check; pages that
state a verdict also say how far the index has got ("indexed to block N of height M"), so a
reader knows what the page can and cannot have seen yet.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

from trainproof.chaincode.contract.config import DEFAULTS
from trainproof.explorer.db import Database
from trainproof.explorer.templates import (
    attestation_link, badge, block_link, e, family_tree, kv, layout, link, model_link, score_plot, short, table,
    thresholds, tick, tx_link, when,
)

HEX64 = re.compile(r"[0-9a-fA-F]{64}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PAGE_SIZE = 50
STATUSES = ["SUBMITTED", "ASSIGNED", "VERIFIED", "REJECTED", "INCONCLUSIVE"]
AUDIT_STATES = ["AWAITING_DRAW", "NOT_SAMPLED", "AUDITING", "CONFIRMED", "DISPUTED", "UNCHECKED"]


class NotFound(Exception):
    """The page asked for names nothing in the index."""


def indexed(db: Database) -> dict[str, Any]:
    nxt = int(db.meta("next_block", "0"))
    height = db.meta("chain_height")
    return {"last": nxt - 1 if nxt else "none", "next": nxt, "height": height if height is not None else "unknown"}


def summary(db: Database) -> dict[str, Any]:
    """What the dashboard shows, also sent as JSON on every server-sent event."""
    now = time.time()
    by_status = {r["status"]: r["n"] for r in db.rows("SELECT status, COUNT(*) AS n FROM models GROUP BY status")}
    blocks = db.rows("SELECT number, hash, tx_count, timestamp FROM blocks ORDER BY number DESC LIMIT 10")
    verdicts = db.rows("SELECT model_id, name, status, reason, updated_at FROM models "
                       "WHERE status IN ('VERIFIED', 'REJECTED', 'INCONCLUSIVE') ORDER BY updated_at DESC LIMIT 10")
    since = now - 600
    return {
        "indexed": indexed(db),
        "blocks_per_min": db.scalar("SELECT COUNT(*) FROM blocks WHERE timestamp >= ?", (since,), 0) / 10,
        "txs_per_min": db.scalar("SELECT COUNT(*) FROM txs WHERE timestamp >= ?", (since,), 0) / 10,
        "models": by_status, "model_count": sum(by_status.values()),
        "verifiers": db.scalar("SELECT COUNT(*) FROM verifiers WHERE status = 'ACTIVE'", (), 0),
        "flagged": db.scalar("SELECT COUNT(*) FROM flagged_blocks", (), 0),
        "disputed": db.scalar("SELECT COUNT(*) FROM attestations WHERE audit_state = 'DISPUTED'", (), 0),
        "blocks": blocks, "verdicts": verdicts,
    }


def _block_rows(blocks: list[dict[str, Any]]) -> list[list[str]]:
    return [[block_link(b["number"]), f'<code>{short(b["hash"], 16)}</code>', e(b["tx_count"]), e(when(b["timestamp"]))]
            for b in blocks]


DASHBOARD_JS = """
const es = new EventSource('/events');
function cell(tr, text, href){const td=document.createElement('td');
  if(href){const a=document.createElement('a');a.href=href;a.textContent=text;td.appendChild(a);} else td.textContent=text;
  tr.appendChild(td);}
function iso(t){return t?new Date(t*1000).toISOString().replace(/\\.\\d+Z$/,'Z').replace('T',' '):'–';}
es.addEventListener('update', ev => {
  const s = JSON.parse(ev.data);
  for (const k of ['height','model_count','verifiers','flagged','disputed']) { const el=document.getElementById('n-'+k);
    if (el) el.textContent = k==='height' ? s.indexed.height : s[k]; }
  document.getElementById('n-last').textContent = s.indexed.last;
  document.getElementById('n-rate').textContent = s.blocks_per_min.toFixed(1)+' / '+s.txs_per_min.toFixed(1);
  const ind = document.getElementById('indexed');
  if (ind) ind.textContent = 'indexed to block '+s.indexed.last+' of height '+s.indexed.height;
  const tb = document.querySelector('#latest-blocks tbody'); tb.textContent='';
  for (const b of s.blocks){const tr=document.createElement('tr');tr.dataset.block=b.number;
    cell(tr,'#'+b.number,'/block/'+b.number);cell(tr,b.hash.slice(0,16)+'…');cell(tr,String(b.tx_count));
    cell(tr,iso(b.timestamp));tb.appendChild(tr);}
  const vb = document.querySelector('#latest-verdicts tbody'); vb.textContent='';
  for (const m of s.verdicts){const tr=document.createElement('tr');
    cell(tr,m.name,'/model/'+m.model_id);cell(tr,m.status);cell(tr,m.reason||'');cell(tr,iso(m.updated_at));vb.appendChild(tr);}
  const ms = document.querySelector('#by-status tbody'); ms.textContent='';
  for (const [k,v] of Object.entries(s.models)){const tr=document.createElement('tr');cell(tr,k,'/models?status='+k);
    cell(tr,String(v));ms.appendChild(tr);}
});
"""


def dashboard(db: Database, health: list[dict[str, Any]]) -> str:
    s = summary(db)
    cards = "".join(f'<div class="card"><div class="n" id="n-{k}">{e(v)}</div>{e(label)}</div>' for k, v, label in [
        ("height", s["indexed"]["height"], "channel height"), ("last", s["indexed"]["last"], "last block indexed"),
        ("rate", f'{s["blocks_per_min"]:.1f} / {s["txs_per_min"]:.1f}', "blocks / txs per minute (10 min)"),
        ("model_count", s["model_count"], "models"), ("verifiers", s["verifiers"], "active verifiers"),
        ("flagged", s["flagged"], "blocks refused by the checks"),
        ("disputed", s["disputed"], "disputed attestations")])
    status_rows = [[link(f"/models?status={e(k)}", e(k)), e(v)] for k, v in s["models"].items()]
    verdict_rows = [[model_link(m["model_id"], m["name"]), badge(m["status"]), e(m["reason"]), e(when(m["updated_at"]))]
                    for m in s["verdicts"]]
    health_rows = [[e(h["name"]), e(h["mspid"]), tick(h["ok"], h["why"]) if h["ok"] is not None else "–"]
                   for h in health]
    body = (f'<h1>Channel dashboard</h1><div class="cards">{cards}</div>'
            f'<h2>Models by status</h2>{table(["status", "models"], status_rows, attrs="id=by-status")}'
            f'<h2>Latest verdicts</h2>{table(["model", "verdict", "reason", "at"], verdict_rows, attrs="id=latest-verdicts")}'
            f'<h2>Latest blocks</h2>{table(["block", "hash", "txs", "time"], _block_rows(s["blocks"]), attrs="id=latest-blocks")}'
            f'<h2>Node health</h2>{table(["node", "MSP", "/healthz"], health_rows, attrs="id=health")}')
    return layout("dashboard", body, s["indexed"], DASHBOARD_JS)


def blocks_page(db: Database, before: int | None) -> str:
    top = before if before is not None else int(db.meta("next_block", "0"))
    rows = db.rows("SELECT number, hash, tx_count, timestamp FROM blocks WHERE number < ? ORDER BY number DESC LIMIT ?",
                   (top, PAGE_SIZE))
    oldest = rows[-1]["number"] if rows else 0
    more = f'<p>{link(f"/blocks?before={oldest}", "older blocks →")}</p>' if oldest > 0 else ""
    flagged = db.rows("SELECT number, hash, reasons, seen_at FROM flagged_blocks ORDER BY seen_at DESC LIMIT 20")
    flag_html = ""
    if flagged:
        flag_html = "<h2 class=flag>Refused blocks</h2>" + table(
            ["block", "hash", "why", "seen"],
            [[e(f["number"]), f'<code>{short(f["hash"], 16)}</code>', e("; ".join(json.loads(f["reasons"]))),
              e(when(f["seen_at"]))] for f in flagged], attrs="id=flagged")
    return layout("blocks", f"<h1>Blocks</h1>{table(['block', 'hash', 'txs', 'time'], _block_rows(rows))}{more}{flag_html}",
                  indexed(db))


def block_page(db: Database, number: int) -> str:
    b = db.row("SELECT * FROM blocks WHERE number = ?", (number,))
    if b is None:
        raise NotFound(f"block {number} is not indexed")
    prev = db.row("SELECT hash FROM blocks WHERE number = ?", (number - 1,))
    chain_ok = number == 0 or (prev is not None and prev["hash"] == b["previous_hash"])
    orderers = json.loads(b["orderer_signatures"])
    txs = db.rows("SELECT tx_index, tx_id, type, function, creator_msp, validation_code, creator_ok, creator_why "
                  "FROM txs WHERE block_number = ? ORDER BY tx_index", (number,))
    info = kv([
        ("number", e(number)), ("hash", f"<code>{e(b['hash'])}</code>"),
        ("previous hash", f"<code>{e(b['previous_hash'])}</code> " + (tick(True) if chain_ok else tick(False, "chain broken"))
         + (" (genesis)" if number == 0 else f" = hash of {block_link(number - 1)}")),
        ("data hash", f"<code>{e(b['data_hash'])}</code> {tick(True)} matches the transactions"),
        ("orderer signatures", "<br>".join(f"{e(o['mspid'])} {e(o['subject'])} {tick(o['ok'], o['why'])}" for o in orderers)
         or ("none (the genesis block is the trust anchor)" if number == 0 else "none")),
        ("time", e(when(b["timestamp"]))), ("config block", "yes" if b["is_config"] else "no"),
    ])
    rows = [[e(t["tx_index"]), tx_link(t["tx_id"]), e(t["type"]), e(t["function"]), e(t["creator_msp"]),
             badge(t["validation_code"]), tick(bool(t["creator_ok"]), t["creator_why"])] for t in txs]
    nav = " ".join(x for x in [link(f"/block/{number - 1}", "← previous") if number > 0 else "",
                               link(f"/block/{number + 1}", "next →")] if x)
    return layout(f"block {number}", f"<h1>Block {e(number)}</h1>{info}<h2>Transactions</h2>"
                  f"{table(['#', 'tx id', 'type', 'call', 'creator MSP', 'validation', 'creator signature'], rows)}<p>{nav}</p>",
                  indexed(db))


def tx_page(db: Database, tx_id: str) -> str:
    t = db.row("SELECT * FROM txs WHERE tx_id = ? ORDER BY block_number LIMIT 1", (tx_id,))
    if t is None:
        raise NotFound(f"transaction {tx_id} is not indexed")
    ends = db.rows("SELECT * FROM endorsements WHERE block_number = ? AND tx_index = ? ORDER BY n",
                   (t["block_number"], t["tx_index"]))
    models = db.rows("SELECT model_id FROM model_txs WHERE block_number = ? AND tx_index = ?",
                     (t["block_number"], t["tx_index"]))
    attested = db.rows("SELECT at.attestation_id, a.audit_state FROM attestation_txs at LEFT JOIN attestations a "
                       "ON a.attestation_id = at.attestation_id WHERE at.block_number = ? AND at.tx_index = ?",
                       (t["block_number"], t["tx_index"]))
    args = json.loads(t["args"])
    info = kv([
        ("tx id", f"<code>{e(t['tx_id'])}</code>"), ("block", block_link(t["block_number"]) + f" position {e(t['tx_index'])}"),
        ("type", e(t["type"])), ("time", e(when(t["timestamp"]))), ("validation code", badge(t["validation_code"])),
        ("chaincode", e(t["chaincode"]) or "–"),
        ("call", f'<code class="call">{e(t["function"])}({e(", ".join(a[:80] + ("…" if len(a) > 80 else "") for a in args))})</code>'
         if t["function"] else "–"),
        ("response", f'{e(t["response_status"])} {e(t["response_message"])}'),
        ("event", e(t["event_name"]) or "–"),
        ("creator", f'{e(t["creator_msp"])} · {e(t["creator_subject"])} · <code>{short(t["creator_fingerprint"], 16)}</code> '
         + tick(bool(t["creator_ok"]), t["creator_why"])),
        ("models", " ".join(model_link(m["model_id"]) for m in models) or "–"),
        ("attestations", " ".join(f'{attestation_link(a["attestation_id"])} {badge(a["audit_state"])}' for a in attested)
         or "–"),
    ])
    end_rows = [[e(x["mspid"]), e(x["subject"]), f'<code>{short(x["fingerprint"], 16)}</code>', tick(bool(x["ok"]), x["why"])]
                for x in ends]
    rw = json.loads(t["rwset"])
    rw_rows = [[e(r["op"]), e(r["namespace"]), f'<code>{e(r["key"].replace(chr(0), "·"))}</code>',
                e(r.get("version")) if r["op"] == "read" else f'<code>{e(r.get("value", "")[:300])}</code>']
               for r in rw]
    arg_rows = [[e(i), f"<pre>{e(_pretty(a))}</pre>"] for i, a in enumerate(args)]
    event = f"<h2>Event payload</h2><pre>{e(_pretty(t['event_payload']))}</pre>" if t["event_payload"] else ""
    return layout(f"tx {tx_id[:12]}", f"<h1>Transaction</h1>{info}<h2>Endorsements</h2>"
                  f"{table(['MSP', 'subject', 'fingerprint', 'signature'], end_rows, attrs='id=endorsements')}"
                  f"<h2>Arguments</h2>{table(['#', 'value'], arg_rows)}{event}"
                  f"<h2>Read/write set</h2>{table(['op', 'namespace', 'key', 'version / value'], rw_rows)}", indexed(db))


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)[:20000]
    except ValueError:
        return text[:20000]


def models_page(db: Database, q: dict[str, str]) -> str:
    where, params = [], []
    if q.get("status"):
        where.append("status = ?"); params.append(q["status"])
    if q.get("submitter"):
        where.append("(submitter_msp = ? OR submitter_fingerprint = ? OR submitter_cn = ?)"); params += [q["submitter"]] * 3
    if q.get("name"):
        where.append("name LIKE ?"); params.append(f"%{q['name']}%")
    if q.get("parent"):
        where.append("parent_id = ?"); params.append(q["parent"])
    if q.get("since"):
        where.append("submitted_at >= ?"); params.append(_date(q["since"]))
    if q.get("until"):
        where.append("submitted_at < ?"); params.append(_date(q["until"]) + 86400)
    page = max(0, int(q.get("page") or 0))
    sql = ("SELECT model_id, name, version, status, submitter_msp, submitter_cn, parent_id, submitted_at FROM models"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY submitted_at DESC, model_id LIMIT ? OFFSET ?")
    rows = db.rows(sql, params + [PAGE_SIZE + 1, page * PAGE_SIZE])
    more = len(rows) > PAGE_SIZE
    options = "".join(f'<option{" selected" if q.get("status") == s else ""}>{s}</option>' for s in STATUSES)
    form = (f'<form method="get" class="filters">status <select name="status"><option value="">any</option>{options}</select> '
            f'name <input name="name" value="{e(q.get("name", ""))}"> submitter <input name="submitter" '
            f'value="{e(q.get("submitter", ""))}" placeholder="Org1MSP, CN or fingerprint"> parent <input name="parent" '
            f'value="{e(q.get("parent", ""))}"> from <input name="since" type="date" value="{e(q.get("since", ""))}"> '
            f'to <input name="until" type="date" value="{e(q.get("until", ""))}"> <button>filter</button></form>')
    table_rows = [[model_link(m["model_id"]), e(m["name"]), e(m["version"]), badge(m["status"]),
                   e(f'{m["submitter_msp"]} {m["submitter_cn"]}'), model_link(m["parent_id"]), e(when(m["submitted_at"]))]
                  for m in rows[:PAGE_SIZE]]
    nav = ""
    if more:
        nxt = {**q, "page": str(page + 1)}
        nav = "<p>" + link("/models?" + e("&".join(f"{k}={v}" for k, v in nxt.items() if v)), "next page →") + "</p>"
    return layout("models", f"<h1>Models</h1>{form}"
                  f"{table(['id', 'name', 'version', 'status', 'submitter', 'parent', 'submitted'], table_rows, attrs='id=models')}{nav}",
                  indexed(db))


def _date(text: str) -> float:
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp()


def _load(record: str | None) -> Any:
    return json.loads(record) if record else None


def vote_grid(db: Database, model_id: str) -> str:
    """Interval × verifier: each vote with its evidence; a replay hash that differs from the other
    members' is marked (a lying verifier must forge its evidence, and here it shows)."""
    intervals = {r["interval"]: _load(r["record"]) for r in db.rows(
        "SELECT interval, record FROM intervals WHERE model_id = ? ORDER BY interval", (model_id,))}
    votes = db.rows("SELECT interval, verifier, verdict, round, replay_sha256, record, tx_id FROM votes "
                    "WHERE model_id = ? ORDER BY interval, verifier", (model_id,))
    decisions = {r["interval"]: r for r in db.rows("SELECT interval, outcome, reason, tx_id FROM decisions WHERE model_id = ?",
                                                   (model_id,))}
    names = {r["fingerprint"]: r for r in db.rows("SELECT fingerprint, name, mspid FROM verifiers")}
    if not intervals and not votes:
        return '<p class="note" id="vote-grid">not assigned yet</p>'
    verifiers = sorted({v["verifier"] for v in votes} | {fp for i in intervals.values() for fp in i.get("verifiers", [])})
    by = {(v["interval"], v["verifier"]): v for v in votes}
    head = "".join(f'<th title="{e(fp)}">{e(names.get(fp, {}).get("name") or fp[:8])}<br><small>'
                   f'{e(names.get(fp, {}).get("mspid", ""))}</small></th>' for fp in verifiers)
    rows = []
    for i in sorted(set(intervals) | {v["interval"] for v in votes}):
        hashes = [by[(i, fp)]["replay_sha256"] for fp in verifiers if (i, fp) in by]
        common = max(set(hashes), key=hashes.count) if hashes else None
        cells = []
        members = set((intervals.get(i) or {}).get("verifiers", []))
        for fp in verifiers:
            v = by.get((i, fp))
            if v is None:
                word = ("not needed" if i in decisions else "pending") if fp in members else ""
                cells.append(f'<td class="novote">{word}</td>')
                continue
            ev = (_load(v["record"]) or {}).get("evidence") or {}
            disagree = len(set(hashes)) > 1 and v["replay_sha256"] != common
            mark = ' <span class="flag" title="this replay hash differs from the other members\'">≠ replay</span>' if disagree else ""
            reason = f'<br><small>{e(ev.get("reason"))}</small>' if ev.get("reason") else ""
            if ev.get("evidence_sha256"):
                reason += "<br>" + link(f'/artifact/{e(ev["evidence_sha256"])}', "evidence", "evidence")
            cls = "vote disagree" if disagree else "vote"
            vote_link = link(f"/tx/{e(v['tx_id'])}", badge(v["verdict"]), "vote")
            cells.append(f'<td class="{cls}" data-interval="{e(i)}" data-verdict="{e(v["verdict"])}">'
                         f'{vote_link}{mark}<br>'
                         f'<code title="replay sha256">{short(v["replay_sha256"], 10)}</code>{reason}</td>')
        d = decisions.get(i)
        outcome = (badge(d["outcome"]) + (f'<br><small>{e(d["reason"])}</small>' if d["reason"] else "")) if d else "open"
        rec = intervals.get(i) or {}
        reasons = ", ".join(rec.get("reasons", [])) if rec.get("kind", "replay") == "replay" else "score check"
        escalated = rec.get("escalated")
        if escalated:  # majority-first: the seated pair disagreed, and this many more were seated
            reasons += f'; escalated: +{len(escalated.get("added") or [])} seated'
        rows.append(f'<tr data-interval="{e(i)}"><th>{e(i)}<br><small>{e(reasons)}</small></th>{"".join(cells)}'
                    f'<td class="decision">{outcome}</td></tr>')
    return (f'<table id="vote-grid" class="grid"><thead><tr><th>interval</th>{head}<th>decision</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


MODEL_JS = """
const es = new EventSource('/events');
let seen = null;
es.addEventListener('update', async ev => {
  const s = JSON.parse(ev.data);
  const ind = document.getElementById('indexed');
  if (ind) ind.textContent = 'indexed to block '+s.indexed.last+' of height '+s.indexed.height;
  if (seen !== null && s.indexed.next !== seen) {
    const r = await fetch(location.pathname + '/live');
    if (r.ok) { document.getElementById('live').innerHTML = await r.text();
      document.getElementById('head-status').innerHTML = document.getElementById('status').innerHTML; }
  }
  seen = s.indexed.next;
});
"""


def model_live(db: Database, model_id: str) -> str:
    """The parts of a model page that change as verification goes on: verdict and vote grid."""
    m = db.row("SELECT status, reason, state FROM models WHERE model_id = ?", (model_id,))
    if m is None:
        raise NotFound(f"model {model_id} is not indexed")
    state = _load(m["state"]) or {}
    rejected = state.get("rejected_intervals") or []
    verdict = kv([("status", f'<span id="status">{badge(m["status"])}</span>'), ("reason", f'<span id="reason">{e(m["reason"]) or "–"}</span>'),
                  ("rejected intervals", f'<span id="rejected">{e(", ".join(map(str, rejected))) or "–"}</span>')]
                 + ([("inconclusive intervals", e(", ".join(map(str, state["inconclusive_intervals"]))))]
                    if state.get("inconclusive_intervals") else []))
    return (f"<h2>Verdict</h2>{verdict}<h2>Votes</h2>{vote_grid(db, model_id)}"
            f"<h2>Attestations</h2>{model_attestations(db, model_id)}")


def model_page(db: Database, model_id: str) -> str:
    m = db.row("SELECT * FROM models WHERE model_id = ?", (model_id,))
    if m is None:
        raise NotFound(f"model {model_id} is not indexed")
    cert = _load(m["certificate"]) or {}
    assignment = _load(db.scalar("SELECT record FROM assignments WHERE model_id = ?", (model_id,))) or {}
    state = _load(m["state"]) or {}
    cfg = assignment.get("config") or _load(db.meta("contract_config")) or {}
    scores = cert.get("scores") or []
    selected = assignment.get("selected") or []
    limits = thresholds(scores, float(cfg.get("k", 3.0)), float(cfg.get("shift_k", 4.0)), cert.get("recipe"))
    recipe, dataset, env = cert.get("recipe") or {}, cert.get("dataset") or {}, cert.get("environment") or {}
    head = kv([
        ("model id", f"<code>{e(model_id)}</code>"), ("name", f'{e(m["name"])} v{e(m["version"])}'),
        ("submitter", f'{e(m["submitter_msp"])} · {e(m["submitter_cn"])} · <code>{short(m["submitter_fingerprint"], 16)}</code>'),
        ("parent", model_link(m["parent_id"])), ("submitted", f'{e(when(m["submitted_at"]))} in {tx_link(m["submitted_tx"])}'),
        ("certificate sha256", f'<code>{e(state.get("certificate_sha256"))}</code>'),
        ("audit bundle", link(f"/model/{e(model_id)}/bundle.json", "download JSON") +
         ' <span class="note">(check offline: <code>trainproof audit verify FILE</code>)</span>'),
    ])
    cert_html = kv([
        ("architecture", f'<code>{e(json.dumps(recipe.get("architecture")))}</code>'),
        ("optimizer", f'<code>{e(json.dumps(recipe.get("optimizer")))}</code>'),
        ("loss / scheduler", f'{e(recipe.get("loss"))} / <code>{e(json.dumps(recipe.get("scheduler")))}</code>'),
        ("seeds", f'<code>{e(json.dumps(recipe.get("seeds")))}</code>'),
        ("batch size · steps/interval · total steps",
         f'{e(recipe.get("batch_size"))} · {e(recipe.get("steps_per_interval"))} · {e(recipe.get("total_steps"))}'),
        ("dataset", f'{e(dataset.get("name"))} · {link("/artifact/" + e(dataset.get("sha256")), "<code>" + e(dataset.get("sha256")) + "</code>")} · {e(dataset.get("size"))} bytes · '
                    f'<code>{e(dataset.get("uri"))}</code>'),
        ("preprocessing", e("; ".join(map(str, dataset.get("preprocessing") or [])))),
        ("environment", f'{e(env.get("device"))} · python {e(env.get("python"))} · {e(env.get("platform"))} · '
                        f'threads {e(env.get("threads"))}'),
        ("packages", f'<code>{e(json.dumps(env.get("packages")))}</code>'),
        ("git", f'<code>{e(env.get("git_commit"))}</code>{" (dirty)" if env.get("git_dirty") else ""}'),
        ("command line", f'<code>{e(env.get("command_line"))}</code>'),
        ("metrics", f'<code>{e(json.dumps(cert.get("metrics")))}</code>'),
    ])
    score_by = {s.get("interval"): s for s in scores}
    snaps = [[e(s.get("index")), e(s.get("step")),
              link(f'/artifact/{e(s.get("sha256"))}', f'<code>{e(s.get("sha256"))}</code>', "artifact"), e(s.get("size")),
              f'<code>{e(s.get("uri"))}</code>',
              e(", ".join(f'{k}={score_by.get(s.get("index"), {}).get(k, 0):.3g}' for k, _ in
                          [("absolute", 0), ("input_shift", 0)]) if s.get("index") in score_by else "–")]
             for s in cert.get("snapshots") or []]
    sel_rows = [[e(s["interval"]), e(", ".join(s.get("reasons", []))),
                 e(f'{s["residual"]:.3f} > {s["threshold"]:.3f}') if "residual" in s else "–",
                 e(f'{s["shift_z"]:.2f} > {s["shift_threshold"]:.2f}') if "shift_z" in s else "–",
                 e(f'{s["probe_rise"]:.3f} > {s["probe_threshold"]:.3f}') if "probe_rise" in s else "–"] for s in selected]
    chain = cert.get("layer_hashes") or {}
    layers = [[e(i), e(name), f'<code>{short(h, 20)}</code>'] for i, (name, h) in
              enumerate(zip(["ouroboros"] + list(chain.get("layers", [])), chain.get("chain", [])))]
    history = db.rows("SELECT t.block_number, t.tx_id, t.function, t.timestamp, t.validation_code FROM model_txs mt "
                      "JOIN txs t ON t.block_number = mt.block_number AND t.tx_index = mt.tx_index "
                      "WHERE mt.model_id = ? ORDER BY t.block_number, t.tx_index", (model_id,))
    hist_rows = [[block_link(h["block_number"]), tx_link(h["tx_id"]), e(h["function"]), badge(h["validation_code"]),
                  e(when(h["timestamp"]))] for h in history]
    assurance = state.get("assurance") or assignment.get("assurance")
    seed = f'seed <code>{short(assignment.get("seed"), 16)}</code> by {e((assignment.get("assigner") or {}).get("mspid"))} in {tx_link(assignment["tx_id"])}' \
        if assignment.get("tx_id") else "not assigned yet"
    body = (f'<h1>{e(m["name"])} <small>v{e(m["version"])}</small> <span id="head-status">{badge(m["status"])}</span></h1>{head}'
            f'<div id="live">{model_live(db, model_id)}</div>'
            + (f"<h2>Assurance</h2><p>{e(assurance)}</p>" if assurance else "")
            + f'<h2>Scores per interval</h2><p class="note">Blue: the claimed scores (log scale). Dashed red: the contract\'s '
              f'selection thresholds (k={e(cfg.get("k", DEFAULTS["k"]))} on the detrended absolute change, shift_k={e(cfg.get("shift_k", DEFAULTS["shift_k"]))} '
              f'on the input shift); the other series are not thresholded by the contract. Shaded: selected (red by a rule, '
              f'blue audit sample); ✗ rejected.</p>{score_plot(scores, selected, limits, state.get("rejected_intervals") or [])}'
            + f'<h2>Selected intervals</h2><p class="note">{seed}</p>'
              f'{table(["interval", "selected by", "residual > threshold", "shift z > threshold", "probe rise > threshold"], sel_rows, attrs="id=selected")}'
            + f'<h2>Family tree</h2><p>{link(f"/model/{e(model_id)}/tree", "family tree →")}</p>'
            + f"<h2>Birth certificate</h2>{cert_html}"
            + f"<h2>Snapshots</h2>{table(['index', 'step', 'sha256', 'bytes', 'uri', 'scores'], snaps)}"
            + f"<h2>Layer hash chain</h2>{table(['#', 'layer', 'chain entry'], layers)}"
            + f"<h2>History</h2>{table(['block', 'tx', 'call', 'validation', 'time'], hist_rows, attrs='id=history')}")
    return layout(f"model {m['name']}", body, indexed(db), MODEL_JS)


# ---- attestations (signed outputs) --------------------------------------------------------------

def _num(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _tx(tx_id: Any) -> str:
    return tx_link(tx_id) if isinstance(tx_id, str) and tx_id else "–"


def dispute_text(record: dict[str, Any]) -> str:
    """What a DISPUTED check found, in words (plain text: the caller escapes it)."""
    audit = record.get("audit") or {}
    check = audit.get("check") or {}
    ev = check.get("evidence") or {}
    who = check.get("verifier") or {}
    name = who.get("name") or who.get("common_name") or str(audit.get("verifier", ""))[:12]
    parts = [f"verifier {name} ({who.get('mspid') or audit.get('verifier_mspid', '?')}) recomputed the outputs: root "
             f"{str(ev.get('output_root', '?'))[:16]}… is not the attested {str(record.get('root', '?'))[:16]}…"]
    if ev.get("mismatched") is not None:
        parts.append(f"{ev['mismatched']} of {ev.get('checked', record.get('count', '?'))} outputs differ")
    if ev.get("max_abs_diff") is not None:
        parts.append(f"largest difference {_num(ev['max_abs_diff'])} (tolerance {_num(ev.get('tolerance'))})")
    if ev.get("reason"):
        parts.append(f"reason: {ev['reason']}")
    return "; ".join(parts)


def _audit_cell(a: dict[str, Any]) -> str:
    """The audit state with its colour; a DISPUTED one with its reason, an UNCHECKED one with why."""
    cell = badge(a["audit_state"])
    if a["verifier_msp"]:
        cell += f' <small>by {e(a["verifier_msp"])}</small>'
    if a["audit_state"] == "DISPUTED":
        cell += f'<br><span class="disputed-reason">{e(a["reason"] or "outputs differ from the recomputed ones")}</span>'
    elif a["reason"]:
        cell += f"<br><small>{e(a['reason'])}</small>"
    return cell


def _attestation_table(rows: list[dict[str, Any]], with_model: bool, attrs: str) -> str:
    headers = ["attestation"] + (["model"] if with_model else []) + ["outputs", "root", "attester", "audit", "attested"]
    cells = [[attestation_link(a["attestation_id"])] + ([model_link(a["model_id"], a.get("name"))] if with_model else [])
             + [e(a["count"]), f'<code title="{e(a["root"])}">{short(a["root"], 16)}</code>',
                e(f'{a["attester_msp"]} {a["attester_cn"]}'), _audit_cell(a),
                f'{e(when(a["timestamp"]))} {tx_link(a["tx_id"])}'] for a in rows]
    classes = ["disputed" if a["audit_state"] == "DISPUTED" else "" for a in rows]
    return table(headers, cells, attrs=attrs, row_classes=classes)


ATTESTATION_COLUMNS = ("a.attestation_id, a.model_id, a.count, a.root, a.attester_msp, a.attester_cn, a.tx_id, "
                       "a.timestamp, a.audit_state, a.verifier_msp, a.reason")


def model_attestations(db: Database, model_id: str) -> str:
    """A model's latest attestations; DISPUTED ones are counted above the table and marked in it."""
    rows = db.rows(f"SELECT {ATTESTATION_COLUMNS} FROM attestations a WHERE a.model_id = ? "
                   "ORDER BY a.timestamp DESC, a.attestation_id LIMIT ?", (model_id, PAGE_SIZE + 1))
    if not rows:
        return '<p class="note" id="model-attestations">no outputs of this model are attested</p>'
    disputed = db.scalar("SELECT COUNT(*) FROM attestations WHERE model_id = ? AND audit_state = 'DISPUTED'",
                         (model_id,), 0)
    warn = (f'<p class="flag" id="disputed-count">{e(disputed)} of this model\'s attestations '
            f'{"is" if disputed == 1 else "are"} DISPUTED: a verifier recomputed other outputs</p>' if disputed else "")
    more = (f'<p>{link(f"/attestations?model={e(model_id)}", "all of this model’s attestations →")}</p>'
            if len(rows) > PAGE_SIZE else "")
    return warn + _attestation_table(rows[:PAGE_SIZE], False, "id=model-attestations") + more


def attestations_page(db: Database, q: dict[str, str]) -> str:
    where, params = [], []
    if q.get("audit"):
        where.append("a.audit_state = ?"); params.append(q["audit"])
    if q.get("model"):
        where.append("a.model_id = ?"); params.append(q["model"].lower())
    if q.get("attester"):
        where.append("(a.attester_msp = ? OR a.attester_fingerprint = ? OR a.attester_cn = ?)"); params += [q["attester"]] * 3
    page = max(0, int(q.get("page") or 0))
    rows = db.rows(f"SELECT {ATTESTATION_COLUMNS}, m.name FROM attestations a LEFT JOIN models m ON m.model_id = a.model_id"
                   + (" WHERE " + " AND ".join(where) if where else "")
                   + " ORDER BY a.timestamp DESC, a.attestation_id LIMIT ? OFFSET ?", params + [PAGE_SIZE + 1, page * PAGE_SIZE])
    options = "".join(f'<option{" selected" if q.get("audit") == s else ""}>{s}</option>' for s in AUDIT_STATES)
    form = (f'<form method="get" class="filters">audit <select name="audit"><option value="">any</option>{options}</select> '
            f'model <input name="model" value="{e(q.get("model", ""))}" size="38"> attester <input name="attester" '
            f'value="{e(q.get("attester", ""))}" placeholder="Org1MSP, CN or fingerprint"> <button>filter</button></form>')
    nav = ""
    if len(rows) > PAGE_SIZE:
        nxt = {**q, "page": str(page + 1)}
        nav = "<p>" + link("/attestations?" + e("&".join(f"{k}={v}" for k, v in nxt.items() if v)), "next page →") + "</p>"
    note = ('<p class="note">Signed outputs: each attestation records the Merkle root of (input, output) pairs a VERIFIED '
            'model gave, endorsed by every member org; a drawn share is recomputed by a verifier of another org. '
            'DISPUTED: the verifier\'s outputs differ.</p>')
    return layout("attestations", f"<h1>Attestations</h1>{note}{form}"
                  f"{_attestation_table(rows[:PAGE_SIZE], True, 'id=attestations')}{nav}", indexed(db))


def _who(ref: Any) -> str:
    """An identity as records name it ({fingerprint, mspid, common_name[, name]}), as markup."""
    if not isinstance(ref, dict):
        return f"<code>{short(str(ref), 16)}</code>" if ref else "–"
    return (f'{e(ref.get("name") or ref.get("common_name"))} · {e(ref.get("mspid"))}'
            f' · <code title="{e(ref.get("fingerprint"))}">{short(ref.get("fingerprint"), 16)}</code>')


def _json_code(value: Any) -> str:
    return f"<code>{e(json.dumps(value, sort_keys=True))}</code>" if value is not None else "–"


def attestation_page(db: Database, attestation_id: str) -> str:
    a = db.row("SELECT * FROM attestations WHERE attestation_id = ?", (attestation_id,))
    if a is None:
        raise NotFound(f"attestation {attestation_id} is not indexed")
    record = _load(a["record"]) or {}
    audit = record.get("audit") or {}
    check = audit.get("check") or {}
    ev = check.get("evidence") or {}
    model = record.get("model") or {}
    batch = record.get("batch") or {}
    now = db.row("SELECT name, status FROM models WHERE model_id = ?", (a["model_id"],))
    names = {r["fingerprint"]: r for r in db.rows("SELECT fingerprint, name FROM verifiers")}
    banner = ""
    if a["audit_state"] == "DISPUTED":
        banner = (f'<div class="banner disputed" id="disputed-banner" role="alert">DISPUTED: {e(dispute_text(record))}. '
                  f"The outputs this attestation records are not the ones its verifier recomputed from the same inputs "
                  f"with the certified weights; the attestation stays on the ledger, marked.</div>")
    single = record.get("output") or {}
    head = kv([
        ("attestation id", f"<code>{e(attestation_id)}</code>"),
        ("model", f'{model_link(a["model_id"], model.get("name") or a["model_id"][:8])} v{e(model.get("version"))} · '
                  f'{badge(model.get("status"))} when attested'
                  + (f' · now {badge(now["status"])}' if now and now["status"] != model.get("status") else "")),
        ("weights sha256", f'<code>{e(record.get("weights_sha256"))}</code> (final snapshot {e(model.get("final_snapshot"))})'),
        ("certificate sha256", f'<code>{e(model.get("certificate_sha256"))}</code>'),
        ("outputs", e(a["count"])),
        ("Merkle root", f'<code id="root">{e(a["root"])}</code>'),
        ("batch", f'<code>{e(batch.get("sha256"))}</code> · {e(batch.get("size"))} bytes · <code>{e(batch.get("uri"))}</code>'
                  + (' · sealed: only its attester and its auditor hold the key' if isinstance(batch.get("sealed"), dict)
                     else "")),
        ("execution", _json_code(record.get("execution"))),
    ] + ([("output", f'input <code>{e(single.get("input_sha256"))}</code> → output '
                     f'<code>{e(single.get("output_sha256"))}</code>')] if single else [])
      + ([("note", e(record.get("note")))] if record.get("note") else []) + [
        ("attester", _who(record.get("attester"))),
        ("attested", f'{e(when(a["timestamp"]))} in {tx_link(a["tx_id"])} (block {block_link(a["block_number"])})'),
    ])
    verifier = audit.get("verifier")
    checker = check.get("verifier") or {}
    named = names.get(verifier or "", {}).get("name") or (checker.get("name") if checker.get("fingerprint") == verifier else "")
    audit_rows = [("state", f'<span id="audit-state">{badge(a["audit_state"])}</span>'),
                  ("sampled share", e(audit.get("fraction")))]
    if "draw" in audit:
        audit_rows.append(("draw", f'{e(audit["draw"])} (sampled below {e(audit.get("threshold"))} of 1000000) · '
                                   f'by {_who(audit.get("drawn_by"))} in {_tx(audit.get("drawn_tx"))} at '
                                   f'{e(when(audit.get("drawn_at")))}'))
    if verifier:
        audit_rows += [
            ("verifier", (f"{e(named)} · " if named else "") + f'{e(audit.get("verifier_mspid"))} · '
                         f'<code title="{e(verifier)}">{short(verifier, 16)}</code>'
                         + (" (another org than the attester’s)" if audit.get("independent") else "")),
            ("round", f'{e(audit.get("round"))} (re-assigned at most {e(audit.get("max_reassignments"))} times)'),
            ("deadline", e(when(audit.get("deadline")))),
        ]
    for p in audit.get("previous") or []:
        audit_rows.append((f'round {p.get("round")}', f'{_who(p.get("verifier"))} did not check by {e(when(p.get("deadline")))}'))
    if audit.get("reason"):
        audit_rows.append(("reason", e(audit["reason"])))
    check_html = ""
    if check:
        same = ev.get("output_root") == a["root"]
        reason_cls = "disputed-reason" if check.get("verdict") == "DISPUTED" else ""
        check_html = "<h2>Check</h2>" + kv([
            ("verdict", f'<span id="check-verdict">{badge(check.get("verdict"))}</span>'),
            ("by", _who(check.get("verifier"))),
            ("recorded", f'{e(when(check.get("timestamp")))} in {_tx(check.get("tx_id"))}'),
            ("recomputed root", f'<code>{e(ev.get("output_root"))}</code> '
                                + ("= the attested root" if same else '<span class="flag">≠ the attested root</span>')),
            ("bit-identical", e(ev.get("exact"))),
            ("largest difference", f'{e(ev.get("max_abs_diff"))} (tolerance {e(ev.get("tolerance"))})'),
            ("outputs checked / mismatched", f'{e(ev.get("checked"))} / {e(ev.get("mismatched"))}'),
            ("same execution fingerprint", e(ev.get("fingerprint_match"))),
            ("reason", f'<span class="{reason_cls}" id="check-reason">{e(ev.get("reason")) if ev.get("reason") else "–"}</span>'),
            ("verifier's execution", _json_code(ev.get("execution"))),
        ])
    history = db.rows("SELECT t.block_number, t.tx_id, t.function, t.timestamp, t.validation_code, t.creator_msp "
                      "FROM attestation_txs x JOIN txs t ON t.block_number = x.block_number AND t.tx_index = x.tx_index "
                      "WHERE x.attestation_id = ? ORDER BY t.block_number, t.tx_index", (attestation_id,))
    hist_rows = [[block_link(h["block_number"]), tx_link(h["tx_id"]), e(h["function"]), e(h["creator_msp"]),
                  badge(h["validation_code"]), e(when(h["timestamp"]))] for h in history]
    state = a["audit_state"]
    body = (f'<h1>Attestation <code>{short(attestation_id, 16)}</code> {badge(state)}</h1>{banner}{head}'
            f"<h2>Audit</h2>{kv(audit_rows)}{check_html}"
            f"<h2>History</h2>{table(['block', 'tx', 'call', 'creator MSP', 'validation', 'time'], hist_rows, attrs='id=attestation-history')}"
            f"<h2>Record</h2><p class=\"note\">As the contract last wrote it (block {block_link(a['updated_block'])}).</p>"
            f"<pre id=\"record\">{e(json.dumps(record, indent=2, sort_keys=True)[:20000])}</pre>")
    return layout(f"attestation {attestation_id[:12]}" + (" DISPUTED" if state == "DISPUTED" else ""), body, indexed(db))


def tree_page(db: Database, model_id: str) -> str:
    if db.row("SELECT model_id FROM models WHERE model_id = ?", (model_id,)) is None:
        raise NotFound(f"model {model_id} is not indexed")
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    cur: str | None = model_id
    while cur and cur not in nodes:  # ancestors
        r = db.row("SELECT model_id, name, status, parent_id FROM models WHERE model_id = ?", (cur,))
        if r is None:
            break
        nodes[cur] = r
        if r["parent_id"]:
            edges.append((r["parent_id"], cur))
        cur = r["parent_id"]
    queue = [model_id]
    while queue and len(nodes) < 500:  # descendants, breadth first, bounded
        parent = queue.pop(0)
        for r in db.rows("SELECT model_id, name, status, parent_id FROM models WHERE parent_id = ?", (parent,)):
            if r["model_id"] not in nodes:
                nodes[r["model_id"]] = r
                edges.append((parent, r["model_id"]))
                queue.append(r["model_id"])
    return layout("family tree", f'<h1>Family tree of {model_link(model_id, nodes[model_id]["name"])}</h1>'
                  f'<p class="note">Ancestors above, descendants below; green VERIFIED, red REJECTED, yellow INCONCLUSIVE, '
                  f'blue pending. The model asked for has a black border.</p>{family_tree(model_id, nodes, edges)}', indexed(db))


def verifiers_page(db: Database) -> str:
    rows = db.rows("SELECT fingerprint, mspid, common_name, name, status, registered_at FROM verifiers ORDER BY mspid, name")
    stats = {r["verifier"]: r for r in db.rows(
        "SELECT v.verifier, COUNT(*) AS votes, "
        "SUM(CASE WHEN (v.verdict = 'ACCEPT' AND d.outcome = 'ACCEPTED') OR (v.verdict = 'REJECT' AND d.outcome = 'REJECTED') "
        "THEN 1 ELSE 0 END) AS agreed, SUM(CASE WHEN d.outcome IN ('ACCEPTED', 'REJECTED') THEN 1 ELSE 0 END) AS decided "
        "FROM votes v LEFT JOIN decisions d ON d.model_id = v.model_id AND d.interval = v.interval GROUP BY v.verifier")}
    delays: dict[str, list[float]] = {}
    for r in db.rows("SELECT v.verifier, v.timestamp, i.record FROM votes v JOIN intervals i "
                     "ON i.model_id = v.model_id AND i.interval = v.interval"):
        assigned = (_load(r["record"]) or {}).get("assigned_at")
        if assigned:
            delays.setdefault(r["verifier"], []).append(r["timestamp"] - float(assigned))
    out = []
    for v in rows:
        s = stats.get(v["fingerprint"]) or {}
        d = sorted(delays.get(v["fingerprint"], []))
        agreement = f'{100 * (s.get("agreed") or 0) / s["decided"]:.0f} % of {s["decided"]}' if s.get("decided") else "–"
        out.append([e(v["name"]), e(v["mspid"]), e(v["common_name"]), f'<code>{short(v["fingerprint"], 16)}</code>',
                    badge(v["status"]), e(s.get("votes", 0)), e(agreement),
                    e(f"{d[len(d) // 2]:.1f} s") if d else "–", e(when(v["registered_at"]))])
    return layout("verifiers", "<h1>Verifiers</h1>" + table(
        ["name", "MSP", "CN", "fingerprint", "status", "votes", "agrees with majority", "median time to vote", "registered"],
        out, attrs="id=verifiers"), indexed(db))


def search(db: Database, q: str) -> tuple[str | None, str]:
    """Where ``q`` leads: (redirect, "") or (None, a results page)."""
    q = q.strip()
    if q.isdigit() and db.row("SELECT number FROM blocks WHERE number = ?", (int(q),)):
        return f"/block/{int(q)}", ""
    if UUID.fullmatch(q) and db.row("SELECT model_id FROM models WHERE model_id = ?", (q.lower(),)):
        return f"/model/{q.lower()}", ""
    results = []
    if HEX64.fullmatch(q):
        h = q.lower()
        if db.row("SELECT attestation_id FROM attestations WHERE attestation_id = ?", (h,)):
            return f"/attestations/{h}", ""  # its AttestOutput's tx id: the page links the transaction
        if db.row("SELECT tx_id FROM txs WHERE tx_id = ?", (h,)):
            return f"/tx/{h}", ""
        for r in db.rows("SELECT attestation_id, root, audit_state FROM attestations WHERE root = ? OR batch_sha256 = ?",
                         (h, h)):
            results.append([e("attestation root" if r["root"] == h else "attestation batch"),
                            attestation_link(r["attestation_id"]), badge(r["audit_state"])])
        for r in db.rows("SELECT kind, model_id, detail FROM hashes WHERE sha256 = ?", (h,)):
            results.append([e(r["kind"]), model_link(r["model_id"]), e(r["detail"])])
        b = db.row("SELECT number FROM blocks WHERE hash = ? OR data_hash = ?", (h, h))
        if b:
            results.append(["block", block_link(b["number"]), ""])
    if not results and q:
        for r in db.rows("SELECT model_id, name, status FROM models WHERE name LIKE ? ORDER BY submitted_at DESC LIMIT 50",
                         (f"%{q}%",)):
            results.append(["model name", model_link(r["model_id"], r["name"]), badge(r["status"])])
    if len(results) == 1 and results[0][0] in ("model name",):
        return re.search(r'href="([^"]+)"', results[0][1]).group(1), ""
    body = (f"<h1>Search: {e(q)}</h1>" + (table(["what", "where", "detail"], results, attrs="id=results") if results
                                          else "<p>nothing on the ledger matches</p>"))
    return None, layout("search", body, indexed(db))


CHECK_JS = """
async function sha256(buf){const d=await crypto.subtle.digest('SHA-256',buf);
  return Array.from(new Uint8Array(d)).map(b=>b.toString(16).padStart(2,'0')).join('');}
document.getElementById('check-form').addEventListener('submit', async ev => {
  ev.preventDefault();
  const f = document.getElementById('file').files[0]; if (!f) return;
  const out = document.getElementById('result'); out.textContent = 'hashing…';
  const buf = await f.arrayBuffer(); const h = await sha256(buf);
  document.getElementById('browser-sha').textContent = h;
  const model = document.getElementById('model').value.trim();
  const r = await fetch('/api/check?model='+encodeURIComponent(model)+'&sha256='+h, {method:'POST', body: buf});
  const j = await r.json(); out.textContent = '';
  const p = (t, cls) => {const el=document.createElement('p'); el.textContent=t; if(cls) el.className=cls; out.appendChild(el); return el;};
  if (j.error) { p(j.error, 'flag'); return; }
  p('server sha256 '+j.sha256+(j.sha256===h?' (same as the browser\\'s)':' (differs from the browser\\'s!)'));
  if (j.matches.length) for (const m of j.matches) p('this file is the '+m.kind+' '+m.detail+' of model '+m.model_id, 'ok');
  else p('no artifact on the ledger has this SHA-256, and no model has these weights');
  if (j.model) {
    if (j.differing === null) p('not a weights file the chain can be checked on: '+j.chain_error, 'flag');
    else if (j.differing.length===0) p('every layer matches model '+j.model+'\\'s hash chain', 'ok');
    else { const el=p('layers that differ from model '+j.model+'\\'s hash chain: ', 'flag');
      const s=document.createElement('span'); s.id='differing'; s.textContent=j.differing.join(', '); el.appendChild(s); }
  }
});
"""


def check_page(db: Database, model_id: str) -> str:
    body = (f'<h1>Check a file</h1><p class="note">Your browser computes the file\'s SHA-256 and looks it up among every '
            f'artifact the ledger names; with a model id, the server also checks the file\'s per-layer hash chain against '
            f'that model\'s certificate (as <code>trainproof check</code> does) and names the layers that differ.</p>'
            f'<form id="check-form"><p><input type="file" id="file" name="file"></p><p>model id (optional) '
            f'<input id="model" name="model" size="40" value="{e(model_id)}"></p><button id="check-button">check</button></form>'
            f'<p>browser sha256: <code id="browser-sha"></code></p><div id="result"></div>')
    return layout("check a file", body, indexed(db), CHECK_JS)


def error_page(db: Database, title: str, message: str) -> str:
    return layout(title, f"<h1>{e(title)}</h1><p>{e(message)}</p>", indexed(db))
