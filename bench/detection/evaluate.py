"""The contract's rule on the suite's runs: per-family figures, costs, and the threshold choice.

Everything here calls ``chaincode/contract/selection.py`` on the claimed series (absolute change,
input shift and probe loss), as the contract does. Model-level detection is exact over the audit draw: a
model is caught when the rules pick a bad interval, otherwise with the probability that the
audit sample (drawn from the intervals the rules left) contains at least one of its bad intervals.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

from bench.detection.scenarios import ATTACKS
from trainproof.chaincode.contract import replication
from trainproof.chaincode.contract.config import DEFAULTS

# Replays per selected interval of a clean model (honest replays agree, so nothing escalates), from
# the contract's own seating: majority-first (the default, 2 of 3) beside full (every seat, 3).
REPLICAS = tuple(replication.first_seats({**DEFAULTS, "replication": mode})
                 for mode in (replication.MAJORITY_FIRST, replication.FULL))
AUDIT_CURVE = (0.05, 0.1, 0.2)
# The grid the calibration half chooses from; a setting absent here keeps selection's default.
GRID: dict[str, tuple[float, ...]] = {
    "k": (3.0, 4.0, 5.0),
    "shift_k": (3.0, 4.0, 5.0),
    "low_k": (3.0, 4.0, 5.0),
    "joint_k": (3.5, 4.0, 5.0),
    "probe_rise": (0.01, 0.02, 0.04),
}


def picked(run: dict[str, Any], settings: dict[str, float]) -> set[int]:
    """The intervals the contract's deterministic rules pick from the run's claimed series."""
    from trainproof.chaincode.contract import selection

    claims = {"scores": run["absolute"], "shifts": run["input_shift"], "probes": run.get("probe_loss"),
              "rates": selection.learning_rates(run["recipe"], len(run["absolute"]))}
    return set(selection.deterministic(**claims, **settings))


def cost_ratio(selected_share: float, replicas: int) -> float:
    """Replayed steps summed over all verifiers ÷ training steps, for a clean model (all replays agree)."""
    return selected_share * replicas


def family_figures(runs: list[dict[str, Any]], settings: dict[str, float], audit_fraction: float,
                   picks: dict[int, set[int]] | None = None) -> dict[str, Any]:
    """P/R/F1 of the rules (no audit), share selected (rules; rules + audit), and model-level
    detection (rules; rules + audit, exact over the draw) over ``runs`` of one family."""
    from trainproof.chaincode.contract import selection

    tp = fp = fn = 0
    rules_share = total_share = caught_rules = caught = 0.0
    for run in runs:
        n = len(run["absolute"])
        fixed = picks[id(run)] if picks is not None else picked(run, settings)
        audit = min(n - len(fixed), selection.audit_size(n, audit_fraction))
        bad = {i for i, b in enumerate(run["truth"]) if b}
        tp, fp, fn = tp + len(bad & fixed), fp + len(fixed - bad), fn + len(bad - fixed)
        rules_share += len(fixed) / n
        total_share += (len(fixed) + audit) / n
        if bad:
            caught_rules += bool(bad & fixed)
            caught += 1.0 if bad & fixed else 1.0 - selection.escape_probability(n - len(fixed), audit, len(bad))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    count = len(runs) or 1
    return {"runs": len(runs), "p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "rules_share": rules_share / count, "share": total_share / count,
            "detect_rules": caught_rules / count, "detect": caught / count}


def by_family(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        found.setdefault(run["family"], []).append(run)
    return found


def objective(runs: list[dict[str, Any]], settings: dict[str, float]) -> tuple[float, float, float]:
    """What the calibration half maximises, in order: every attacked family caught by the rules in
    at least 0.99 of its models (the minimum over families, capped at 0.99), then every family's
    F1 up to 0.80 (the minimum, capped), then mean F1 over families less the clean share selected."""
    picks = {id(r): picked(r, settings) for r in runs}
    families = by_family(runs)
    figures = {f: family_figures(rs, settings, 0.05, picks) for f, rs in families.items()}
    attacked = [figures[f] for f in ATTACKS if f in figures]
    clean = figures["clean"]["rules_share"] if "clean" in figures else 0.0
    return (min(min(f["detect_rules"] for f in attacked), 0.99), min(min(f["f1"] for f in attacked), 0.80),
            sum(f["f1"] for f in attacked) / len(attacked) - clean)


def calibrate(runs: list[dict[str, Any]], grid: dict[str, tuple[float, ...]] = GRID) -> tuple[dict[str, float], tuple]:
    """The grid point with the best ``objective`` on ``runs`` (ties: the earliest, i.e. the lowest thresholds)."""
    best: tuple[dict[str, float], tuple] | None = None
    names = sorted(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        settings = dict(zip(names, values))
        score = objective(runs, settings)
        if best is None or score > best[1]:
            best = (settings, score)
    assert best is not None
    return best
