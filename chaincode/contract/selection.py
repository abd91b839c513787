"""Which intervals to re-execute: the claimed Absolute-Change series' outliers, zero changes,
input-shift outliers, and a random audit sample.

Outliers (rule ``detrended-mad``): training updates shrink roughly as a power of the interval
index, so fit log(score) against log(interval + 1) by least squares and flag intervals whose
residual exceeds median + k·MAD of all residuals (MAD unscaled). Intervals
with a claimed change of exactly zero (rule ``zero``) are always selected: no change means no
training. Rule ``input-shift``: the claimed input shift (how far the first layer's update moved
away from the run's usual inputs, a χ² distance) is an outlier when log(shift) is more than
``shift_k`` robust standard deviations (MAD·1.4826) above the run's median; that is what finds
poisoned data, which hides in the size series' noise (bench-detection). Only positive scores
enter the fit (log needs them); fewer than three leave nothing to detrend against, so no outliers are flagged and the audit sample does the work.

Pure Python, no numpy, fsum for sums: the same bytes on every endorsing peer.
``ml/outliers.py`` (``trainproof analyze``) is the analysis side's richer rule set; this
module is what the ledger enforces.
"""
from __future__ import annotations

import math
from statistics import median
from typing import Any

from trainproof.chaincode.contract.prng import HashStream

DETRENDED = "detrended-mad"
ZERO = "zero"
INPUT_SHIFT = "input-shift"
AUDIT = "audit"
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


def zero_changes(scores: list[float]) -> list[dict[str, Any]]:
    return [{"interval": i, "rule": ZERO} for i, s in enumerate(scores) if s == 0]


def audit_size(n_intervals: int, fraction: float) -> int:
    """ceil(fraction · n), at least one; rounded first so 0.7·10 = 7.000000000000001 counts as 7."""
    return max(1, math.ceil(round(fraction * n_intervals, 9)))


def select(scores: list[float], k: float, audit_fraction: float, stream: HashStream,
           shifts: list[float] | None = None, shift_k: float = 4.0) -> list[dict[str, Any]]:
    """Selected intervals in order, each with the rules that selected it (and outlier details).

    The audit sample is drawn from the intervals the deterministic rules did not already pick,
    so it always adds coverage the submitter could not predict from its own claims.
    """
    picked: dict[int, dict[str, Any]] = {}
    shift_hits = input_shift_outliers(shifts, shift_k) if shifts is not None else []
    for hit in zero_changes(scores) + detrended_outliers(scores, k) + shift_hits:
        entry = picked.setdefault(hit["interval"], {"interval": hit["interval"], "reasons": []})
        entry["reasons"].append(hit["rule"])
        if hit["rule"] == DETRENDED:
            entry["residual"], entry["threshold"] = hit["residual"], hit["threshold"]
        if hit["rule"] == INPUT_SHIFT:
            entry["shift_z"], entry["shift_threshold"] = hit["z"], hit["threshold"]
    rest = [i for i in range(len(scores)) if i not in picked]
    for i in stream.sample(rest, min(len(rest), audit_size(len(scores), audit_fraction))):
        picked[i] = {"interval": i, "reasons": [AUDIT]}
    return [picked[i] for i in sorted(picked)]
