"""Which intervals to re-execute: the claimed Absolute-Change series' outliers, zero changes,
too-small changes, input-shift outliers, and a random audit sample.

This module is the one selection rule: the contract enforces it, and ``trainproof analyze``,
``bench-detection`` and the robustness benchmark call it, so the figures they print are the
system's.

Outliers (rule ``detrended-mad``): training updates shrink roughly as a power of the interval
index, so fit log(score) against log(interval + 1) by least squares and flag intervals whose
residual exceeds median + k·MAD of all residuals (MAD unscaled). Intervals
with a claimed change of exactly zero (rule ``zero``) are always selected: no change means no
training. Rule ``input-shift``: the claimed input shift (how far the first layer's update moved
away from the run's usual inputs, a χ² distance) is an outlier when log(shift) is more than
``shift_k`` robust standard deviations (MAD·1.4826) above the run's median; that is what finds
poisoned data, which hides in the size series' noise (bench-detection). Rule ``low-tail``: an
interval whose change is far *below* its neighbours' local trend was probably shortened or
skipped in part (fewer steps, less change): log(score) minus a Theil–Sen fit of log(score) on
log(interval + 1) over up to ``LOW_WINDOW`` neighbours on each side, flagged when more than
``low_k`` robust standard deviations of those residuals below it. Intervals 0 and 1 are not judged
(warm-up: the largest, least regular updates). Only positive scores enter the fits (log needs
them); fewer than three leave nothing to detrend against, so no outliers are flagged and the
audit sample does the work.

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
AUDIT = "audit"
LOW_WINDOW = 3  # neighbours on each side in the low-tail rule's local trend
FIRST_JUDGED = 2  # the low-tail rule leaves the warm-up intervals 0 and 1 alone
# A near-perfect power law has residuals at rounding noise; without a floor, MAD ~1e-16 would flag
# half of them. 1e-6 in log units is a 0.0001 % change.
MAD_FLOOR = 1e-6
MAD_TO_SIGMA = 1.4826


def detrended_outliers(scores: list[float], k: float) -> list[dict[str, Any]]:
    points = [(i, s) for i, s in enumerate(scores) if s > 0]
    if len(points) < 3:
        return []
    xs = [math.log(i + 1) for i, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    slope = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys)]
    center = median(residuals)
    mad = median(abs(r - center) for r in residuals)
    threshold = center + k * max(mad, MAD_FLOOR)
    return [
        {"interval": i, "rule": DETRENDED, "residual": r, "threshold": threshold}
        for (i, _), r in zip(points, residuals)
        if r > threshold
    ]


def input_shift_outliers(shifts: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose log input shift is more than k robust sds above the run's median."""
    points = [(i, math.log(v)) for i, v in enumerate(shifts) if v > 0]
    if len(points) < 3:
        return []
    logs = [y for _, y in points]
    center = median(logs)
    scale = max(median(abs(y - center) for y in logs) * MAD_TO_SIGMA, MAD_FLOOR)
    return [
        {"interval": i, "rule": INPUT_SHIFT, "z": (y - center) / scale, "threshold": k}
        for i, y in points
        if (y - center) / scale > k
    ]


def _theil_sen(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Median of pairwise slopes, then median intercept: a line that outliers barely move."""
    slopes = [(y2 - y1) / (x2 - x1) for a, (x1, y1) in enumerate(points) for x2, y2 in points[a + 1:] if x2 != x1]
    slope = median(slopes) if slopes else 0.0
    return slope, median(y - slope * x for x, y in points)


def low_tail(scores: list[float], k: float) -> list[dict[str, Any]]:
    """Intervals whose log change is more than k robust sds below their neighbours' local trend."""
    logs = {i: math.log(s) for i, s in enumerate(scores) if s > 0}
    residuals = {}
    for i in sorted(logs):
        if i < FIRST_JUDGED:
            continue
        near = [(math.log(j + 1), logs[j]) for j in range(max(1, i - LOW_WINDOW), i + LOW_WINDOW + 1)
                if j != i and j in logs]
        if len(near) >= 3:
            slope, intercept = _theil_sen(near)
            residuals[i] = logs[i] - (intercept + slope * math.log(i + 1))
    if len(residuals) < 3:
        return []
    center = median(residuals.values())
    scale = max(median(abs(r - center) for r in residuals.values()) * MAD_TO_SIGMA, MAD_FLOOR)
    return [{"interval": i, "rule": LOW_TAIL, "z": (r - center) / scale, "threshold": -k}
            for i, r in sorted(residuals.items()) if (r - center) / scale < -k]


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


def deterministic(scores: list[float], k: float, shifts: list[float] | None = None, shift_k: float = 4.0,
                  low_k: float = 4.0) -> dict[int, dict[str, Any]]:
    """The intervals the rules pick from the claimed series alone (no randomness), each with the
    rules that picked it and their details: what a submitter can compute from its own claims."""
    picked: dict[int, dict[str, Any]] = {}
    shift_hits = input_shift_outliers(shifts, shift_k) if shifts is not None else []
    for hit in zero_changes(scores) + detrended_outliers(scores, k) + low_tail(scores, low_k) + shift_hits:
        entry = picked.setdefault(hit["interval"], {"interval": hit["interval"], "reasons": []})
        entry["reasons"].append(hit["rule"])
        if hit["rule"] == DETRENDED:
            entry["residual"], entry["threshold"] = hit["residual"], hit["threshold"]
        if hit["rule"] == INPUT_SHIFT:
            entry["shift_z"], entry["shift_threshold"] = hit["z"], hit["threshold"]
        if hit["rule"] == LOW_TAIL:
            entry["low_z"], entry["low_threshold"] = hit["z"], hit["threshold"]
    return picked


def select(scores: list[float], k: float, audit_fraction: float, stream: HashStream,
           shifts: list[float] | None = None, shift_k: float = 4.0, low_k: float = 4.0) -> list[dict[str, Any]]:
    """Selected intervals in order, each with the rules that selected it (and outlier details).

    The audit sample is drawn from the intervals the deterministic rules did not already pick,
    so it always adds coverage the submitter could not predict from its own claims.
    """
    picked = deterministic(scores, k, shifts, shift_k, low_k)
    rest = [i for i in range(len(scores)) if i not in picked]
    for i in stream.sample(rest, min(len(rest), audit_size(len(scores), audit_fraction))):
        picked[i] = {"interval": i, "reasons": [AUDIT]}
    return [picked[i] for i in sorted(picked)]
