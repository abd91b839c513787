"""HTML building blocks: the page layout, tables, badges, and the SVG score plot and family tree.

Everything that comes from the ledger is untrusted text (a model name, a reason, an argument
is whatever a submitter or verifier wrote), so it only ever reaches a page through ``e()``
(HTML-escaped, quotes included); markup is built here from fixed strings alone.
"""
from __future__ import annotations

import datetime
import html
import math
from typing import Any, Iterable, Sequence

STATUS_CLASS = {"VERIFIED": "ok", "ACCEPTED": "ok", "ACCEPT": "ok", "ACTIVE": "ok", "VALID": "ok",
                "REJECTED": "bad", "REJECT": "bad", "SUSPENDED": "warn", "INCONCLUSIVE": "warn",
                "ASSIGNED": "info", "SUBMITTED": "info",
                # An attestation's audit (chaincode/contract/attestations.py); NOT_SAMPLED stays grey.
                "CONFIRMED": "ok", "DISPUTED": "bad", "UNCHECKED": "warn", "AUDITING": "info", "AWAITING_DRAW": "info"}
VERDICT_COLOUR = {"VERIFIED": "#1a7f37", "REJECTED": "#cf222e", "INCONCLUSIVE": "#9a6700",
                  "ASSIGNED": "#0969da", "SUBMITTED": "#0969da"}


def e(value: Any) -> str:
    """Escaped text; None as a dash."""
    return "–" if value is None else html.escape(str(value), quote=True)


def when(ts: float | None) -> str:
    if not ts:
        return "–"
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def badge(word: str | None) -> str:
    return f'<span class="badge {STATUS_CLASS.get(word or "", "")}">{e(word)}</span>'


def tick(ok: bool, why: str = "") -> str:
    """✓ or ✗ with the reason as a tooltip; the class is what tests and readers look for."""
    return ('<span class="sig ok" title="signature verified">✓</span>' if ok
            else f'<span class="sig bad" title="{e(why)}">✗ {e(why)}</span>')


def short(h: str | None, n: int = 12) -> str:
    return e(h[:n] + "…") if h and len(h) > n else e(h)


def link(href: str, text: str, cls: str = "") -> str:
    """``href`` is built by the caller from escaped parts; ``text`` is already markup."""
    return f'<a href="{href}"{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>{text}</a>'


def model_link(model_id: str | None, text: str | None = None) -> str:
    if not model_id:
        return "–"
    return link(f"/model/{e(model_id)}", e(text or model_id[:8]))


def tx_link(tx_id: str, n: int = 12) -> str:
    return link(f"/tx/{e(tx_id)}", short(tx_id, n), "tx")


def attestation_link(attestation_id: str | None, n: int = 12) -> str:
    if not attestation_id:
        return "–"
    return link(f"/attestations/{e(attestation_id)}", short(attestation_id, n), "attestation")


def block_link(number: int) -> str:
    return link(f"/block/{int(number)}", f"#{int(number)}")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "", attrs: str = "",
          row_classes: Sequence[str] = ()) -> str:
    """Cells are markup (the caller escaped them); headers and ``row_classes`` are fixed strings."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    classes = list(row_classes)
    body = "".join((f'<tr class="{classes[i]}">' if i < len(classes) and classes[i] else "<tr>")
                   + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for i, r in enumerate(rows))
    return f'<table class="{cls}" {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def kv(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are markup."""
    return '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700}
header form{margin-left:auto}header input{width:28em;padding:.3em}
main{padding:1em 1.6em;max-width:1400px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#eaeef2}
code,.mono{font-family:ui-monospace,monospace;font-size:.88em;word-break:break-all}
.badge{padding:.1em .45em;border-radius:.8em;font-size:.85em;background:#eaeef2}
.badge.ok{background:#dafbe1;color:#1a7f37}.badge.bad{background:#ffebe9;color:#cf222e}
.badge.warn{background:#fff8c5;color:#9a6700}.badge.info{background:#ddf4ff;color:#0969da}
.sig.ok{color:#1a7f37;font-weight:700}.sig.bad{color:#cf222e;font-weight:700}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #d0d7de;padding:.8em 1.1em;border-radius:6px;min-width:9em}
.card .n{font-size:1.6em;font-weight:700}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;background:#fff;padding:.6em;border:1px solid #d0d7de}
dl.kv dt{font-weight:600}dl.kv dd{margin:0}
td.disagree{background:#ffebe9}td.selected{background:#fff8c5}
.note{color:#57606a;font-size:.9em}.flag{color:#cf222e;font-weight:700}
tr.disputed td{background:#ffebe9}.disputed-reason{color:#cf222e;font-weight:600}
.banner{padding:.7em 1em;border-radius:6px;margin:.6em 0;font-weight:600}
.banner.disputed{background:#ffebe9;border:2px solid #cf222e;color:#82071e}
pre{background:#fff;border:1px solid #d0d7de;padding:.6em;overflow:auto;max-height:30em;font-size:.85em}
"""


def layout(title: str, body: str, indexed: dict[str, Any] | None = None, script: str = "") -> str:
    """A full page; ``title`` is text, ``body`` and ``script`` are markup/JS built from fixed strings."""
    status = ""
    if indexed is not None:
        status = (f'<span class="note" id="indexed">indexed to block {e(indexed["last"])} of height '
                  f'{e(indexed["height"])}</span>')
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · trainproof explorer</title>
<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>
<header><a class="brand" href="/">trainproof explorer</a><a href="/blocks">Blocks</a><a href="/models">Models</a>
<a href="/attestations">Attestations</a><a href="/verifiers">Verifiers</a><a href="/check">Check a file</a>{status}
<form action="/search" method="get"><input name="q" id="search" placeholder="model id, tx id, block number or SHA-256" aria-label="search"></form></header>
<main>{body}</main>{f"<script>{script}</script>" if script else ""}</body></html>"""


# ---- the score plot ---------------------------------------------------------------------------

def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def thresholds(scores: list[dict[str, Any]], k: float, shift_k: float,
               recipe: dict[str, Any] | None = None) -> dict[str, list[float | None] | None]:
    """Per interval, the score above which the contract's rules select it (None where no rule applies).

    absolute: ``selection.thresholds`` (rule detrended-mad: k robust sds above the local trend of the
    change ÷ the recipe's learning rate, scaled back by the rate);
    input_shift: exp(median log shift + shift_k·1.4826·MAD) (rule input-shift); both as selection.py computes them.
    """
    from trainproof.chaincode.contract import selection

    out: dict[str, list[float | None] | None] = {"absolute": None, "input_shift": None}
    sizes = [float(s.get("absolute") or 0) for s in scores]
    limits = selection.thresholds(sizes, k, selection.learning_rates(recipe, len(sizes)))
    if any(v is not None for v in limits):
        out["absolute"] = limits
    shifts = [math.log(float(s["input_shift"])) for s in scores if s.get("input_shift") and s["input_shift"] > 0]
    if len(shifts) >= 3:
        c = _median(shifts)
        scale = max(_median([abs(y - c) for y in shifts]) * 1.4826, 1e-6)
        out["input_shift"] = [math.exp(c + shift_k * scale)] * len(scores)
    return out


SERIES = [("absolute", "absolute change"), ("l2", "L2"), ("percent", "percent"), ("cosine", "cosine"),
          ("input_shift", "input shift")]


def score_plot(scores: list[dict[str, Any]], selected: list[dict[str, Any]], limits: dict[str, Any],
               rejected: Sequence[int] = ()) -> str:
    """Five panels (log scale), one per score series; the contract's thresholds dashed; selected
    intervals shaded (red: by a rule, blue: audit sample), rejected ones marked ✗."""
    n = len(scores)
    if not n:
        return '<p class="note">no scores</p>'
    w, ph, left, gap = 900, 110, 70, 22
    height = len(SERIES) * (ph + gap) + 30
    x = (lambda i: left + (i + 0.5) * (w - left - 10) / n)
    band = (w - left - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" class="scores" role="img" '
             f'aria-label="weight-change scores per interval">']
    sel = {s["interval"]: s for s in selected}
    for row, (key, label) in enumerate(SERIES):
        top = 10 + row * (ph + gap)
        values = [float(s.get(key) or 0) for s in scores]
        limit = limits.get(key)
        positives = [v for v in values + [v for v in limit or [] if v is not None] if v > 0]
        if not positives:
            continue
        lo, hi = math.log10(min(positives)), math.log10(max(positives))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        y = (lambda v, lo=lo, hi=hi, top=top: top + ph - (math.log10(v) - lo) / (hi - lo) * ph if v > 0 else top + ph)
        parts.append(f'<rect x="{left}" y="{top}" width="{w - left - 10}" height="{ph}" fill="#fff" stroke="#d0d7de"/>')
        for i, s in sel.items():
            if 0 <= i < n:
                colour = "#a0c4ff" if s.get("reasons") == ["audit"] else "#ffb3b3"
                why = ", ".join(s.get("reasons") or [])
                parts.append(f'<rect x="{x(i) - band / 2:.1f}" y="{top}" width="{band:.1f}" height="{ph}" '
                             f'fill="{colour}" opacity="0.6"><title>interval {i}: {e(why)}</title></rect>')
        parts.append(f'<text x="4" y="{top + 14}" font-size="12" font-weight="600">{e(label)}</text>')
        parts.append(f'<text x="4" y="{top + 28}" font-size="10" fill="#57606a">1e{hi:.1f}</text>'
                     f'<text x="4" y="{top + ph}" font-size="10" fill="#57606a">1e{lo:.1f}</text>')
        if limit:
            pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(limit) if v is not None)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="#cf222e" stroke-dasharray="5,3" '
                         f'class="threshold"><title>{e(label)}: the contract\'s selection threshold</title></polyline>')
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#0969da" stroke-width="1.5"/>')
        for i, v in enumerate(values):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="#0969da">'
                         f'<title>interval {i}: {e(label)} = {v:.4g}</title></circle>')
        for i in rejected:
            if 0 <= i < n:
                parts.append(f'<text x="{x(i) - 5:.1f}" y="{top + 12}" font-size="13" fill="#cf222e" '
                             f'class="rejected-mark">✗</text>')
    axis = 10 + len(SERIES) * (ph + gap) - gap + 14
    step = max(1, n // 20)
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i) - 4:.1f}" y="{axis}" font-size="10">{i}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---- the family tree --------------------------------------------------------------------------

def family_tree(focus: str, nodes: dict[str, dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    """Ancestors above, descendants below, one row per generation; nodes coloured by verdict."""
    depth: dict[str, int] = {focus: 0}
    parents = {c: p for p, c in edges}
    children: dict[str, list[str]] = {}
    for p, c in edges:
        children.setdefault(p, []).append(c)
    node, d = focus, 0
    while node in parents and parents[node] not in depth:
        node, d = parents[node], d - 1
        depth[node] = d
    queue = [focus]
    while queue:
        cur = queue.pop(0)
        for c in sorted(children.get(cur, [])):
            if c not in depth:
                depth[c] = depth[cur] + 1
                queue.append(c)
    rows: dict[int, list[str]] = {}
    for m, dd in sorted(depth.items(), key=lambda kv: (kv[1], kv[0])):
        rows.setdefault(dd, []).append(m)
    top = min(rows)
    bw, bh, hg, vg = 190, 46, 24, 40
    width = max(len(r) for r in rows.values()) * (bw + hg) + hg
    height = len(rows) * (bh + vg) + vg
    pos = {}
    for dd, members in rows.items():
        offset = (width - len(members) * (bw + hg) + hg) / 2
        for j, m in enumerate(members):
            pos[m] = (offset + j * (bw + hg), vg / 2 + (dd - top) * (bh + vg))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" class="tree" '
             f'role="img" aria-label="family tree">']
    for p, c in edges:
        if p in pos and c in pos:
            (px, py), (cx, cy) = pos[p], pos[c]
            parts.append(f'<line x1="{px + bw / 2:.0f}" y1="{py + bh:.0f}" x2="{cx + bw / 2:.0f}" y2="{cy:.0f}" '
                         f'stroke="#57606a"/>')
    for m, (px, py) in pos.items():
        info = nodes.get(m, {})
        status = info.get("status", "?")
        colour = VERDICT_COLOUR.get(status, "#57606a")
        stroke = ' stroke="#000" stroke-width="3"' if m == focus else ""
        parts.append(f'<a href="/model/{e(m)}"><rect x="{px:.0f}" y="{py:.0f}" width="{bw}" height="{bh}" rx="6" '
                     f'fill="{colour}"{stroke}/><text x="{px + 8:.0f}" y="{py + 18:.0f}" fill="#fff" font-size="12" '
                     f'font-weight="600">{e(str(info.get("name", "?"))[:24])}</text><text x="{px + 8:.0f}" '
                     f'y="{py + 35:.0f}" fill="#fff" font-size="11">{e(m[:8])} · {e(status)}</text></a>')
    parts.append("</svg>")
    return "".join(parts)
