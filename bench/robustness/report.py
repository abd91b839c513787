"""The benchmark's table: share judged correctly per configuration beside the expectation and
the paper's figure, and timing per configuration."""
from __future__ import annotations

from typing import Optional

from bench.robustness.scenarios import say

# Fig. 3 of Navarro et al. gives no table; the text states: "the network can validate models with 85%
# accuracy with the network containing up to 20% percent of malicious nodes", "more susceptible to
# chaotic maliciousness", and "maintains 80% accuracy even up to a 50% makeup of malicious nodes".
PAPER = {0: "≈85+", 10: "≈85+", 20: "≈85", 30: "–", 40: "–", 50: "≈80 (best mode)"}


def fmt(x: Optional[float], digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(rows: list[dict], modes: list[str]) -> None:
    by = {(r["fraction"], r["mode"]): r for r in rows}
    fractions = sorted({r["fraction"] for r in rows})

    def cell(r: Optional[dict]) -> str:
        if r is None:
            return "-"
        return f"{r['correct']}/{r['n']} {100 * r['correct'] / r['n']:3.0f} % (exp {100 * r['expected_correct'] / r['n']:3.0f} %)"

    say("\nJudged correctly (clean → VERIFIED, poisoned → REJECTED); exp = exact expectation for these models;"
        "\n0 % is one run (no malice to differ), shown in both columns")
    head = f"{'malicious':>9}  " + "  ".join(f"{m:<25}" for m in modes) + f"  {'poisoned w/ bad interval selected':<34} paper (Fig. 3)"
    say(head)
    say("-" * len(head))
    for f in fractions:
        cells = [cell(by.get((f, m)) or (by.get((f, None)) if f == 0 else None)) for m in modes]
        any_row = next((by[(f, m)] for m in [*modes, None] if (f, m) in by), None)
        sel = f"{any_row['poison_selected']}/{any_row['poisoned']}" if any_row else "-"
        if f > 0:
            sel = " / ".join(f"{by[(f, m)]['poison_selected']}/{by[(f, m)]['poisoned']}" for m in modes if (f, m) in by)
        say(f"{round(f * 100):>8} %  " + "  ".join(f"{c:<25}" for c in cells) + f"  {sel:<34} {PAPER.get(round(f * 100), '')}")
    say("\nTiming per configuration (all models submitted at once): median submit→verdict vs median replay")
    say("and the cost ratio: replayed steps summed over all verifiers ÷ training steps (clean models; all models)")
    say(f"{'configuration':<16} {'submit→verdict':>14} {'(ledger)':>9} {'replay':>8} {'task':>7} {'replays':>8} {'wall':>6}"
        f" {'cost clean':>10} {'cost all':>8}")
    for r in rows:
        say(f"{r['label']:<16} {fmt(r['median_submit_to_verdict']):>12} s {fmt(r['median_ledger_seconds']):>7} s "
            f"{fmt(r['median_replay_seconds'], 2):>6} s {fmt(r['median_task_seconds'], 2):>5} s {r['replays']:>8} {r['wall_seconds']:>5.0f} s"
            f" {fmt(r.get('cost_ratio_clean'), 2):>10} {fmt(r.get('cost_ratio_all'), 2):>8}")
