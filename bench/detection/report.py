"""Printed tables: the held-out half per family and run length, the attacks' effect, the audit curve."""
from __future__ import annotations

from typing import Any

from bench.detection.evaluate import AUDIT_CURVE, REPLICAS, by_family, cost_ratio, family_figures, picked
from bench.detection.scenarios import ATTACKS, FAMILIES, POISONING


def _lengths(runs: list[dict[str, Any]]) -> list[int]:
    return sorted({r["config"]["intervals"] for r in runs})


def held_out(runs: list[dict[str, Any]], settings: dict[str, float], audit_fraction: float) -> None:
    """Per family and run length: the rules' P/R/F1, shares selected, model-level detection, cost."""
    costs = " ".join(f"{f'cost×{n}':>7}" for n in REPLICAS)
    print(f"{'family':<15} {'T':>4} {'runs':>4} {'P':>5} {'R':>5} {'F1':>5} {'sel rules':>9} {'sel+audit':>9} "
          f"{'det rules':>9} {'det+audit':>9} {costs}")
    for length in _lengths(runs):
        families = by_family(r for r in runs if r["config"]["intervals"] == length)
        for family in FAMILIES:
            if family not in families:
                continue
            f = family_figures(families[family], settings, audit_fraction)
            prf = f"{'–':>5} {'–':>5} {'–':>5}" if family == "clean" else f"{f['p']:5.2f} {f['r']:5.2f} {f['f1']:5.2f}"
            det = f"{'–':>9} {'–':>9}" if family == "clean" else f"{f['detect_rules']:9.2f} {f['detect']:9.3f}"
            cost = " ".join(f"{cost_ratio(f['share'], n):7.2f}" for n in REPLICAS) if family == "clean" else ""
            print(f"{family:<15} {length:>4} {f['runs']:>4} {prf} {f['rules_share']:9.3f} {f['share']:9.3f} {det} {cost}")


def by_dimension(runs: list[dict[str, Any]], settings: dict[str, float]) -> None:
    """The same rules per configuration value: clean share picked, F1 over all attacks, worst model detection."""
    print(f"{'dimension':<10} {'value':<14} {'runs':>4} {'clean sel':>9} {'F1 attacks':>10} {'worst det rules':>15}")
    for dim in ("dataset", "arch", "optimizer", "schedule"):
        for value in sorted({r["config"][dim] for r in runs}):
            group = [r for r in runs if r["config"][dim] == value]
            clean = [r for r in group if r["family"] == "clean"]
            attacked = [r for r in group if r["family"] != "clean"]
            share = family_figures(clean, settings, 0.05)["rules_share"] if clean else float("nan")
            f1 = family_figures(attacked, settings, 0.05)["f1"] if attacked else float("nan")
            worst = min((family_figures(rs, settings, 0.05)["detect_rules"] for f, rs in by_family(attacked).items()), default=float("nan"))
            print(f"{dim:<10} {value:<14} {len(group):>4} {share:9.3f} {f1:10.2f} {worst:15.2f}")


def audit_curve(runs: list[dict[str, Any]], settings: dict[str, float]) -> None:
    """Clean cost against model-level detection (worst family and mean) as the audit fraction varies."""
    costs = " ".join(f"{f'cost×{n}':>7}" for n in REPLICAS)
    print(f"{'T':>4} {'audit':>6} {'clean sel':>9} {costs} {'worst det':>9} {'mean det':>9}  worst family")
    picks = {id(r): picked(r, settings) for r in runs}
    for length in _lengths(runs):
        families = by_family(r for r in runs if r["config"]["intervals"] == length)
        for fraction in AUDIT_CURVE:
            clean = family_figures(families.get("clean", []), settings, fraction, picks)
            dets = {f: family_figures(families[f], settings, fraction, picks)["detect"] for f in ATTACKS if f in families}
            worst = min(dets, key=dets.get)
            cost = " ".join(f"{cost_ratio(clean['share'], n):7.2f}" for n in REPLICAS)
            print(f"{length:>4} {fraction:6.2f} {clean['share']:9.3f} {cost} {dets[worst]:9.3f} "
                  f"{sum(dets.values()) / len(dets):9.3f}  {worst}")


def effects(runs: list[dict[str, Any]]) -> None:
    """Whether the attacks worked: backdoor / flip success right after the last bad interval and at
    the end, against the clean models' rate (the trigger or the flipped class by chance); for the
    lazy families, the share of the run's steps not done."""
    families = by_family(runs)
    base = families.get("clean", [])

    def mean(rs: list[dict[str, Any]], when: str, key: str) -> float:
        vals = [r[when][key] for r in rs if r.get(when)]
        return sum(vals) / len(vals) if vals else float("nan")

    print(f"{'family':<15} {'runs':>4} {'accuracy':>8} {'effect':<9} {'after bad':>9} {'final':>6} {'clean':>6}")
    for family in FAMILIES:
        rs = families.get(family, [])
        if not rs:
            continue
        key = "flip" if family == "label-flip" else "backdoor"
        if family in POISONING:
            print(f"{family:<15} {len(rs):>4} {mean(rs, 'final', 'accuracy'):8.3f} {key:<9} {mean(rs, 'after_bad', key):9.3f} "
                  f"{mean(rs, 'final', key):6.3f} {mean(base, 'final', key):6.3f}")
        elif family in ("skip", "short"):
            saved = sum(sum(r["truth"]) * (1.0 if family == "skip" else 0.5) / len(r["truth"]) for r in rs) / len(rs)
            print(f"{family:<15} {len(rs):>4} {mean(rs, 'final', 'accuracy'):8.3f} {'steps not run':<13} {saved:11.3f}")
        else:
            print(f"{family:<15} {len(rs):>4} {mean(rs, 'final', 'accuracy'):8.3f}")
