"""Which intervals to re-execute: the claimed Absolute-Change series' outliers both ways against a
local trend, zero changes, input-shift outliers, the two excesses together, rises of the probe
loss, and a random audit sample.

This module is the one selection rule: the contract enforces it, and ``trainproof analyze``,
``bench-detection`` and the robustness benchmark call it, so the figures they print are the
system's.

Both size rules judge the claimed absolute change divided by the interval's mean learning-rate
factor (``learning_rates``, from the scheduler the certificate's recipe names; the raw change when
it names none this module knows), so a warm-up, a step cut or cosine's fall to zero is not read as
cheating. Each interval's log(change) is compared with a local trend: a repeated-median line of
log(change) on log(interval + 1) through up to ``WINDOW`` neighbours on each side, itself left out
(``local_residuals``); the residuals are standardised by their run-wide median and MAD·1.4826.
Rule ``detrended-mad``: more than ``k`` robust sds above the trend (poisoned data, flipped labels
and larger steps move the weights further). Rule ``low-tail``: more than ``low_k`` below it (a
shortened or partly skipped interval moves them less). A local line follows the warm-up and any
curvature that one power law over the whole run misses (the rule this replaced flagged the first
intervals of clean runs), and a repeated median ignores up to half its points, so a group of
poisoned neighbours does not drag the trend up to hide itself. Interval 0 (no neighbours before it)
is left to the audit, and the low-tail rule also leaves interval 1. Intervals with a claimed change
of exactly zero (rule ``zero``) are always selected: no change means no training. Rule
``input-shift``: the claimed input shift (how far the first layer's update moved away from the
run's usual inputs, a χ² distance) is an outlier when log(shift) is more than ``shift_k`` robust
standard deviations above the run's median; that is what finds poisoned data whose size hides in
the noise. Rule ``joint``: the size excess and the shift excess, each counted when positive, add
up to more than ``joint_k``. Rule ``probe-rise``: the claimed probe loss (``ml/probe.py``: the
model's loss on a fixed part of the claimed dataset at each snapshot, recomputed by every
verifier seated on the interval) rose over the interval by more than ``probe_rise`` times the
initial probe loss. Only positive scores enter the fits (log needs them); fewer than three leave
nothing to judge against, so no outliers are flagged and the audit sample does the work. Measured per
scenario family, thresholds chosen on one half of the suite and reported on the other: ``make
bench-detection``.

Pure Python, no numpy, fsum for sums, medians of sorted lists: the same bytes on every endorsing
peer. ``ml/outliers.py`` holds the analysis side's experimental rules (``trainproof analyze``
prints them beside this module's, labelled as not enforced).
"""
from __future__ import annotations

import math
from statistics import median
from typing import Any

from trainproof.chaincode.contract.prng import HashStream

DETRENDED = "detrended-mad"
ZERO = "zero"
LOW_TAIL = "low-tail"
INPUT_SHIFT = "input-shift"
JOINT = "joint"
PROBE_RISE = "probe-rise"
AUDIT = "audit"
WINDOW = 3  # neighbours on each side in the local trend
FIRST_JUDGED = 1  # the size rules leave interval 0 to the audit (no neighbours before it)
FIRST_LOW = 2  # and the low-tail rule the warm-up intervals 0 and 1
# A near-perfect power law has residuals at rounding noise; without a floor, MAD ~1e-16 would flag
# half of them. 1e-6 in log units is a 0.0001 % change.
MAD_FLOOR = 1e-6
MAD_TO_SIGMA = 1.4826
RATE_SAMPLES = 64  # steps per interval at which learning_rates evaluates the schedule


def _repeated_median_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Siegel's repeated median line (slope: median over points of the median slope to the others;
    intercept: median of y − slope·x). Half the points may be outliers before it moves: a group of
    poisoned neighbours or a spike barely bends it, where least squares would follow them."""
    slopes = []
    for a, (x1, y1) in enumerate(points):
        own = [(y2 - y1) / (x2 - x1) for b, (x2, y2) in enumerate(points) if b != a and x2 != x1]
        if own:
            slopes.append(median(own))
    slope = median(slopes) if slopes else 0.0
    return slope, median(y - slope * x for x, y in points)


def local_residuals(scores: list[float]) -> dict[int, tuple[float, float]]:
    """(residual, trend) of log(score) per judged interval against the line through its neighbours.

    The trend at interval i is a repeated-median line of log(score) on log(interval + 1) through up
    to ``WINDOW`` positive-score neighbours on each side, i itself left out. A local line follows
    warm-up, decay, restarts and step schedules, which one power law over the whole run does not.
    Interval 0 is not judged (no neighbours before it; the first update is the least regular).
    """
    logs = {i: math.log(s) for i, s in enumerate(scores) if s > 0}
    found = {}
    for i in sorted(logs):
        if i < FIRST_JUDGED:
            continue
        near = [(math.log(j + 1), logs[j]) for j in range(max(0, i - WINDOW), i + WINDOW + 1) if j != i and j in logs]
        if len(near) >= 3:
            slope, intercept = _repeated_median_line(near)
            trend = intercept + slope * math.log(i + 1)
            found[i] = (logs[i] - trend, trend)
    return found


def _robust_scale(values: list[float]) -> tuple[float, float]:
    """Median and MAD·1.4826 (a normal sd), the MAD floored."""
    center = median(values)
    return center, max(median(abs(v - center) for v in values) * MAD_TO_SIGMA, MAD_FLOOR)


def _standardised(residuals: dict[int, tuple[float, float]]) -> dict[int, float]:
    """Each residual in robust sds from the run-wide median residual."""
    center, scale = _robust_scale([r for r, _ in residuals.values()])
    return {i: (r - center) / scale for i, (r, _) in residuals.items()}


def _shift_z(shifts: list[float]) -> dict[int, float]:
    """Robust z of log(shift) per interval with a positive shift (empty with fewer than three)."""
    logs = {i: math.log(v) for i, v in enumerate(shifts) if v > 0}
    return _standardised({i: (y, 0.0) for i, y in logs.items()}) if len(logs) >= 3 else {}


def detrended_outliers(scores: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose log change is more than k robust sds above their neighbours' local trend."""
    residuals = local_residuals(scores)
    if len(residuals) < 3:
        return []
    center, scale = _robust_scale([r for r, _ in residuals.values()])
    threshold = center + k * scale
    return [{"interval": i, "rule": DETRENDED, "residual": r, "threshold": threshold}
            for i, (r, _) in sorted(residuals.items()) if r > threshold]


def thresholds(scores: list[float], k: float, rates: list[float] | None = None) -> list[float | None]:
    """Per interval, about the absolute change above which ``detrended_outliers`` selects it (None
    where it does not judge; moving one score moves the run-wide spread a little): what the explorer
    draws as the rule's line. ``rates`` as in ``deterministic``."""
    rates = rates if rates is not None and len(rates) == len(scores) else [1.0] * len(scores)
    residuals = local_residuals([s / r for s, r in zip(scores, rates)])
    if len(residuals) < 3:
        return [None] * len(scores)
    center, scale = _robust_scale([r for r, _ in residuals.values()])
    return [rates[i] * math.exp(residuals[i][1] + center + k * scale) if i in residuals else None
            for i in range(len(scores))]


def input_shift_outliers(shifts: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose log input shift is more than k robust sds above the run's median."""
    return [{"interval": i, "rule": INPUT_SHIFT, "z": z, "threshold": k} for i, z in sorted(_shift_z(shifts).items()) if z > k]


def joint_outliers(scores: list[float], shifts: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose size excess and input-shift excess, added, pass k robust sds.

    Why: poisoning that is somewhat too big and lands somewhat off the usual inputs passes under
    each rule's own threshold, and two moderate excesses together are rarer in clean runs than
    either alone (``make bench-detection`` measures what it adds). Only excesses add up: a small
    change does not cancel a large shift, nor the reverse.
    """
    residuals, shift = local_residuals(scores), _shift_z(shifts)
    if len(residuals) < 3 or not shift:
        return []
    size = _standardised(residuals)
    joint = {i: max(0.0, z) + max(0.0, shift.get(i, 0.0)) for i, z in size.items()}
    return [{"interval": i, "rule": JOINT, "z": z, "threshold": k} for i, z in sorted(joint.items()) if z > k]


def probe_rises(probes: list[list[float]], rise: float) -> list[dict[str, Any]]:
    """Intervals over which the probe loss (``ml/probe.py``: the model's loss on a fixed part of the
    claimed dataset, at each end of the interval) rose by more than ``rise`` times the run's
    initial probe loss.

    Why: training on the claimed data lowers its loss; poisoned batches or flipped labels teach
    the model something else, and the claimed data's loss goes up, often while the weights move
    no further than honest training would (on bench-detection's held-out half this rule is what
    finds most label flips and groups of backdoored intervals). Scaled by the initial loss, not
    by a run-wide spread, because late in training honest changes are tiny and such a spread
    would make any wobble look extreme. Interval 0 (from the initial weights) is not judged.
    """
    if not probes or not probes[0] or probes[0][0] <= 0:
        return []
    base = probes[0][0]
    return [{"interval": i, "rule": PROBE_RISE, "rise": (end - start) / base, "threshold": rise}
            for i, (start, end) in enumerate(probes) if i >= FIRST_JUDGED and (end - start) / base > rise]


def low_tail(scores: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose log change is more than k robust sds below their neighbours' local trend
    (``local_residuals``; intervals 0 and 1, the warm-up, are not judged)."""
    residuals = local_residuals(scores)
    if len(residuals) < 3:
        return []
    return [{"interval": i, "rule": LOW_TAIL, "z": z, "threshold": -k}
            for i, z in sorted(_standardised(residuals).items()) if i >= FIRST_LOW and z < -k]


def _rate_factor(spec: Any, base_lr: Any) -> Any:
    """The learning-rate factor at optimizer step t for a registry scheduler spec (ml/registry.py),
    as torch computes it after t scheduler steps; None for a spec this module does not know."""
    if spec is None:
        return lambda t: 1.0
    if not isinstance(spec, dict) or not isinstance(spec.get("params", {}), dict):
        return None
    name, p = spec.get("name"), spec.get("params") or {}

    def number(key: str, default: Any = None) -> Any:
        v = p.get(key, default)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    if name == "step":
        size, gamma = number("step_size"), number("gamma", 0.1)
        if size is None or gamma is None or size < 1 or gamma <= 0:
            return None
        return lambda t: gamma ** (t // int(size))
    if name == "exponential":
        gamma = number("gamma")
        return None if gamma is None or gamma <= 0 else (lambda t: gamma ** t)
    if name == "cosine":
        t_max, eta_min = number("T_max"), number("eta_min", 0.0)
        base = base_lr if isinstance(base_lr, (int, float)) and not isinstance(base_lr, bool) and base_lr > 0 else None
        if t_max is None or t_max < 1 or eta_min is None or (eta_min and base is None):
            return None
        floor = eta_min / base if eta_min else 0.0
        return lambda t: floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t / t_max))
    if name == "warmup_cosine":
        warm, total, low = number("warmup_steps"), number("total_steps"), number("min_factor", 0.0)
        if warm is None or total is None or low is None or warm < 1:
            return None

        def factor(t: int) -> float:
            if t < warm:
                return (t + 1) / warm
            x = min(1.0, (t - warm) / max(1.0, total - warm))
            return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * x))
        return factor
    return None


def learning_rates(recipe: Any, intervals: int) -> list[float] | None:
    """Each interval's mean learning-rate factor, from the claimed recipe's scheduler (at most
    ``RATE_SAMPLES`` evenly spaced steps per interval), or None where the schedule is not one this
    module knows or is not positive throughout.

    Why: an interval's change is roughly proportional to its learning rate, so a schedule (warm-up,
    a step cut, cosine's fall to zero) bends the change series in ways no neighbourhood trend
    expects; divided by the rate it is the smooth decay the size rules judge. The recipe is what
    verifiers replay, so a falsified schedule fails replay of every selected interval.
    """
    if not isinstance(recipe, dict) or intervals < 1:
        return None
    per = recipe.get("steps_per_interval")
    optimizer = recipe.get("optimizer")
    base_lr = (optimizer.get("params") or {}).get("lr") if isinstance(optimizer, dict) and isinstance(optimizer.get("params") or {}, dict) else None
    factor = _rate_factor(recipe.get("scheduler"), base_lr)
    if factor is None or not isinstance(per, int) or isinstance(per, bool) or per < 1:
        return None
    count = min(per, RATE_SAMPLES)
    rates = []
    for i in range(intervals):
        steps = [i * per + (per * j) // count for j in range(count)]
        rates.append(math.fsum(factor(t) for t in steps) / count)
    return rates if all(r > 0 and math.isfinite(r) for r in rates) else None


def zero_changes(scores: list[float]) -> list[dict[str, Any]]:
    return [{"interval": i, "rule": ZERO} for i, s in enumerate(scores) if s == 0]


def escape_probability(rest: int, audit: int, bad: int) -> float:
    """P(an audit of ``audit`` intervals drawn uniformly from ``rest`` misses all of ``bad`` of them):
    the chance that poisoning of ``bad`` intervals the rules did not pick escapes the sample."""
    if bad > rest:
        return 0.0
    return math.comb(rest - bad, audit) / math.comb(rest, audit)


ASSURANCE_M = (1, 2, 5)


def assurance(n_intervals: int, selected: list[dict[str, Any]]) -> dict[str, Any]:
    """What a selection checks, and the escape probability for m = 1, 2, 5 evading intervals."""
    audited = sum(AUDIT in e["reasons"] for e in selected)
    rest = n_intervals - (len(selected) - audited)  # the intervals the audit was drawn from
    return {"intervals": n_intervals, "selected": len(selected), "by_rules": len(selected) - audited,
            "audited": audited, "audit_pool": rest,
            "escape": {str(m): escape_probability(rest, audited, m) for m in ASSURANCE_M}}


def audit_size(n_intervals: int, fraction: float) -> int:
    """ceil(fraction · n), at least one; rounded first so 0.7·10 = 7.000000000000001 counts as 7."""
    return max(1, math.ceil(round(fraction * n_intervals, 9)))


# The rules' settings: the contract's config keys of the same names.
SETTINGS = ("k", "shift_k", "low_k", "joint_k", "probe_rise")
# What a selected entry records of each rule's hit: (the hit's figure, its name in the entry, the threshold's).
DETAILS = {DETRENDED: ("residual", "residual", "threshold"), INPUT_SHIFT: ("z", "shift_z", "shift_threshold"),
           LOW_TAIL: ("z", "low_z", "low_threshold"), JOINT: ("z", "joint_z", "joint_threshold"),
           PROBE_RISE: ("rise", "probe_rise", "probe_threshold")}


def claims(certificate: dict[str, Any]) -> dict[str, Any]:
    """What the rules read from a certificate (or a Recorder's run.json): the claimed absolute
    changes, input shifts and probe losses, and the recipe's learning-rate factors. A certificate
    from before probe losses were claimed has none; the probe rule then has nothing to judge."""
    scores = certificate["scores"]
    probes = [s.get("probe_loss") for s in scores]
    return {"scores": [s["absolute"] for s in scores], "shifts": [s["input_shift"] for s in scores],
            "probes": probes if all(isinstance(p, list) and len(p) == 2 for p in probes) else None,
            "rates": learning_rates(certificate.get("recipe"), len(scores))}


def settings(cfg: dict[str, Any]) -> dict[str, float]:
    """The rules' settings from a contract config (``config.DEFAULTS`` and its changes)."""
    return {key: cfg[key] for key in SETTINGS}


def deterministic(scores: list[float], k: float, shifts: list[float] | None = None, shift_k: float = 4.0,
                  low_k: float = 4.0, rates: list[float] | None = None, joint_k: float | None = None,
                  probes: list[list[float]] | None = None, probe_rise: float | None = None) -> dict[int, dict[str, Any]]:
    """The intervals the rules pick from the claimed series alone (no randomness), each with the
    rules that picked it and their details: what a submitter can compute from its own claims.
    With ``rates`` (``learning_rates`` of the recipe) the size rules judge score ÷ rate; the joint
    rule needs ``shifts`` and ``joint_k``, the probe rule ``probes`` and ``probe_rise``."""
    sizes = [s / r for s, r in zip(scores, rates)] if rates is not None and len(rates) == len(scores) else scores
    hits = zero_changes(scores) + detrended_outliers(sizes, k) + low_tail(sizes, low_k)
    if shifts is not None:
        hits += input_shift_outliers(shifts, shift_k)
        if joint_k is not None:
            hits += joint_outliers(sizes, shifts, joint_k)
    if probes is not None and probe_rise is not None and len(probes) == len(scores):
        hits += probe_rises(probes, probe_rise)
    picked: dict[int, dict[str, Any]] = {}
    for hit in hits:
        entry = picked.setdefault(hit["interval"], {"interval": hit["interval"], "reasons": []})
        entry["reasons"].append(hit["rule"])
        if hit["rule"] in DETAILS:
            figure, value, threshold = DETAILS[hit["rule"]]
            entry[value], entry[threshold] = hit[figure], hit["threshold"]
    return picked


def select(scores: list[float], k: float, audit_fraction: float, stream: HashStream,
           shifts: list[float] | None = None, shift_k: float = 4.0, low_k: float = 4.0,
           rates: list[float] | None = None, joint_k: float | None = None,
           probes: list[list[float]] | None = None, probe_rise: float | None = None) -> list[dict[str, Any]]:
    """Selected intervals in order, each with the rules that selected it (and outlier details).

    The audit sample is drawn from the intervals the deterministic rules did not already pick,
    so it always adds coverage the submitter could not predict from its own claims.
    """
    picked = deterministic(scores, k, shifts, shift_k, low_k, rates, joint_k, probes, probe_rise)
    rest = [i for i in range(len(scores)) if i not in picked]
    for i in stream.sample(rest, min(len(rest), audit_size(len(scores), audit_fraction))):
        picked[i] = {"interval": i, "reasons": [AUDIT]}
    return [picked[i] for i in sorted(picked)]
