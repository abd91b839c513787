"""Select the training intervals whose weight change is out of line.

Pure Python on purpose (only IEEE-754 arithmetic, ``math.log``/``math.exp``, ``fsum`` and
sorting; no numpy or torch): the same answer on every machine, and cheap enough for a
contract to run. The contract keeps its own simpler rule today
(``chaincode/contract/selection.py``). Every result is ordered by interval index.

Why not one global threshold: update size follows the learning-rate schedule and the
loss curve (warm-up, peak, decay), so ``median + k·MAD`` over the raw series flags the
honest early intervals and misses a poisoned late one. The rules here:

* ``zero``          a skipped interval has exactly zero change (the two snapshots hold
                    the same weights);
* ``input-shift``   where the update lands: the first layer's change per input feature,
                    as shares, against the run's median shares (χ² distance, robust z of
                    its log). Poisoned batches change what the data contains, and that
                    moves weights honest data leaves alone;
* ``own-shift``     the same on the interval's own update, SGD momentum carried in from
                    before removed (``metrics.own_profile``): a poisoned interval whose
                    raw shift is blurred by the honest momentum it started with;
* ``detrended-mad`` log(score) against a robust local trend (Theil–Sen line through the
                    neighbours, the interval itself and flagged ones left out), in units
                    of the local MAD of residuals: z > k. With the claimed L2 scores, the
                    drop in update density Σ|d|/|d|₂ that a backdoor causes adds to z;
* ``ratio``         the jump from the preceding intervals is out of line with the run's
                    jumps (group starts);
* ``low-tail``      z < -k on the size alone: a shortened (lazy) interval.

``select_outliers`` applies them and reports each flagged interval once, under the first
rule in the order above that fired. Given the own profiles (``metrics.own_profiles``: the
update less what SGD momentum carried in) it adds the own-shift rule, then drops momentum
spillover: an input-shift flag right after a flagged interval whose own update is not
shifted (``spillover_filter``). Measured on digits (``make bench-detection``): see
the issue notes for precision/recall against Navarro et al.'s Table II.
"""
from __future__ import annotations

import math

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample × this ≈ its standard deviation
RULES = ("zero", "input-shift", "own-shift", "detrended-mad", "ratio", "low-tail")
COMMON_INPUT_SHARE = 1e-3  # inputs below this median share are left out of the own-shift χ²
SPILL_K = 0.5  # own-shift z at or below which a flag after a flagged interval is momentum spillover


def median(values: list[float]) -> float:
    """Median of a non-empty list (mean of the middle two for even lengths)."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def robust_scale(values: list[float]) -> tuple[float, float]:
    """(median, MAD·1.4826) of ``values``; the scale never collapses to zero."""
    centre = median(values)
    mad = median([abs(v - centre) for v in values]) * MAD_TO_SIGMA
    # A perfectly flat series would give MAD 0 and flag every rounding error.
    floor = 1e-12 * max(1.0, abs(centre))
    return centre, max(mad, floor)


def theil_sen(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Robust line fit (intercept, slope): median of pairwise slopes.

    Up to 29 % of the points can be arbitrary without moving the fit, which is what a
    group of poisoned intervals does to a least-squares line.
    """
    n = len(xs)
    if n == 1:
        return ys[0], 0.0
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(n)
        for j in range(i + 1, n)
        if xs[j] != xs[i]
    ]
    slope = median(slopes) if slopes else 0.0
    intercept = median([y - slope * x for x, y in zip(xs, ys)])
    return intercept, slope


def local_residuals(values: list[float | None], window: int, exclude: set[int]) -> dict[int, float]:
    """Residual of each value from a robust line through its neighbours (itself left out).

    The trend of update size is not one curve but warm-up, peak and decay, with the
    shape set by the schedule; a straight Theil–Sen line through the ``window``
    neighbours on each side follows it, and leaving the point itself (and intervals
    already flagged) out keeps a poisoned interval from pulling its own trend up.
    """
    n = len(values)
    out: dict[int, float] = {}
    for i in range(n):
        if values[i] is None:
            continue
        near = [j for j in range(max(0, i - window), min(n, i + window + 1))
                if j != i and j not in exclude and values[j] is not None]
        if len(near) < 2:
            continue
        intercept, slope = theil_sen([float(j) for j in near], [values[j] for j in near])
        out[i] = values[i] - (intercept + slope * i)
    return out


SPREAD_WINDOW = 6
# Interval 0 starts from an empty optimizer state (no momentum, no Adam moments yet):
# its size is not on the trend of the others, so the trend and ratio rules do not judge
# it (nor jumps measured from it); the zero rule still does, and the random audit.
FIRST_JUDGED = 1


def robust_z(values: list[float | None], window: int, exclude: set[int]) -> dict[int, float]:
    """Detrended residuals in units of their robust spread.

    The spread is local (MAD of the residuals within ``SPREAD_WINDOW`` intervals, the
    interval itself and flagged ones left out) and never below the run's global one:
    early training moves fast and its honest residuals are several times larger than
    late ones, so one global scale flags the honest early intervals.
    """
    residuals = local_residuals(values, window, exclude)
    kept = {i: r for i, r in residuals.items() if i not in exclude}
    if len(kept) < 3:
        return {}
    centre, floor = robust_scale(list(kept.values()))
    z = {}
    for i, r in residuals.items():
        near = [kept[j] - centre for j in range(i - SPREAD_WINDOW, i + SPREAD_WINDOW + 1) if j != i and j in kept]
        scale = max(floor, robust_scale(near)[1] if len(near) >= 3 else floor)
        z[i] = (r - centre) / scale
    return z


def _log(v: float) -> float | None:
    return math.log(v) if v > 0.0 else None


def _check(scores: list[float], k: float) -> None:
    if not k > 0.0:
        raise ValueError(f"k must be positive, got {k!r}")
    for i, s in enumerate(scores):
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s) or s < 0:
            raise ValueError(f"score {i} must be a finite non-negative number, got {s!r}")


def zero_rule(scores: list[float]) -> list[dict]:
    """Intervals with exactly zero change: nothing was trained."""
    return [{"interval": i, "rule": "zero", "value": float(s)} for i, s in enumerate(scores) if s == 0.0]


def detrended_rules(scores: list[float], k: float = 3.0, l2: list[float] | None = None,
                    window: int = 3, rounds: int = 6) -> list[dict]:
    """High (``detrended-mad``) and low (``low-tail``) intervals against the local trend.

    With ``l2`` given, the high side also uses the update's density log(Σ|d| / |d|₂):
    a backdoor concentrates the update on few weights (the trigger's inputs, the
    target's outputs), so the density drops while the size grows; the two robust z
    are combined as (z_size − z_density)/√2. Rounds repeat with the flagged intervals
    left out of the trend, so the rest of a poisoned group surfaces once its strongest
    member is out.
    """
    size = [_log(s) for s in scores]
    density = None if l2 is None else [_log(a / b) if a > 0.0 and b > 0.0 else None for a, b in zip(scores, l2)]
    flagged: dict[int, dict] = {}
    for _ in range(rounds):
        left_out = set(flagged) | set(range(FIRST_JUDGED))
        z_size = robust_z(size, window, left_out)
        z_density = robust_z(density, window, left_out) if density is not None else {}
        found: dict[int, dict] = {}
        for i in sorted(z_size):
            if i < FIRST_JUDGED:
                continue
            z = z_size[i] if density is None else (z_size[i] - z_density.get(i, 0.0)) / math.sqrt(2.0)
            if z > k:
                found[i] = {"interval": i, "rule": "detrended-mad", "residual": z_size[i], "z": z}
            elif z_size[i] < -k:
                found[i] = {"interval": i, "rule": "low-tail", "residual": z_size[i], "z": z_size[i]}
        if found.keys() == flagged.keys():
            break
        flagged = found
    return [flagged[i] for i in sorted(flagged)]


def ratio_rule(scores: list[float], k: float = 3.0, window: int = 3) -> list[dict]:
    """Group starts: a jump above the preceding scores that the run's own jumps never make.

    The jump log(s_i / median of up to ``window`` preceding positive scores) is compared
    with the median of all jumps of the run, in units of the local MAD of jumps (as in
    ``robust_z``); the window keeps the interval after a skipped or shortened one from
    counting as a jump.
    """
    steps: dict[int, float] = {}
    for i in range(FIRST_JUDGED + 1, len(scores)):
        before = [s for s in scores[max(FIRST_JUDGED, i - window) : i] if s > 0.0]
        if scores[i] > 0.0 and before:
            steps[i] = math.log(scores[i]) - math.log(median(before))
    if len(steps) < 3:
        return []
    centre, floor = robust_scale(list(steps.values()))
    flagged = []
    for i in sorted(steps):
        near = [steps[j] - centre for j in range(i - SPREAD_WINDOW, i + SPREAD_WINDOW + 1) if j != i and j in steps]
        z = (steps[i] - centre) / max(floor, robust_scale(near)[1] if len(near) >= 3 else floor)
        if z > k:
            flagged.append({"interval": i, "rule": "ratio", "value": math.exp(steps[i]), "z": z})
    return flagged


CHI2_FLOOR = 1e-12  # share of an input that honest training never moves


def _judged_shares(profiles: list[list[float]], inputs: list[int] | None = None) -> dict[int, list[float]]:
    """Each judged interval's profile (over ``inputs``, default all) as shares; intervals with no change left out."""
    shares: dict[int, list[float]] = {}
    for i, p in enumerate(profiles):
        cols = p if inputs is None else [p[c] for c in inputs]
        total = math.fsum(cols)
        if i >= FIRST_JUDGED and total > 0.0:
            shares[i] = [v / total for v in cols]
    return shares


def _chi2_to_median(shares: dict[int, list[float]]) -> dict[int, float]:
    width = len(next(iter(shares.values())))
    ref = [median([s[c] for s in shares.values()]) for c in range(width)]
    norm = math.fsum(ref)
    ref = [r / norm for r in ref] if norm > 0.0 else [1.0 / width] * width
    return {i: math.fsum((s[c] - ref[c]) ** 2 / max(ref[c], CHI2_FLOOR) for c in range(width)) for i, s in shares.items()}


def _log_z(values: dict[int, float]) -> dict[int, float]:
    """Robust z of log(value) over the positive values; empty with fewer than three."""
    logs = {i: math.log(v) for i, v in values.items() if v > 0.0}
    if len(logs) < 3:
        return {}
    centre, scale = robust_scale(list(logs.values()))
    return {i: (v - centre) / scale for i, v in logs.items()}


def profile_shift(profiles: list[list[float]]) -> dict[int, float]:
    """χ² distance of each judged interval's input shares from the run's median shares.

    An interval's profile is normalised to shares (the size is the other rules' job);
    the reference is the per-input median over the judged intervals with any change, so
    a few bad intervals cannot move it. An input whose median share is 0 (a pixel that
    is always blank, say) and that suddenly moves counts against the floor: strongly.
    """
    shares = _judged_shares(profiles)
    return _chi2_to_median(shares) if len(shares) >= 3 else {}


def shift_rule(profiles: list[list[float]], k: float) -> list[dict]:
    """Intervals whose log χ² shift is more than ``k`` robust sds above the run's usual."""
    shift = profile_shift(profiles)
    return [{"interval": i, "rule": "input-shift", "value": shift[i], "z": z}
            for i, z in sorted(_log_z(shift).items()) if z > k]


def own_shift_z(profiles: list[list[float]], own: list[list[float]]) -> dict[int, float]:
    """Robust z of the log χ² shift of each interval's own update (``metrics.own_profile``).

    Like ``profile_shift``, but over the inputs whose median share in the plain profiles is at
    least ``COMMON_INPUT_SHARE``: removing the carried momentum leaves a relative error that
    the χ² against a near-zero reference share (a pixel honest data almost never lights)
    would blow up into noise larger than any poisoning.
    """
    plain = _judged_shares(profiles)
    if len(plain) < 3:
        return {}
    inputs = [c for c in range(len(profiles[0])) if median([sh[c] for sh in plain.values()]) >= COMMON_INPUT_SHARE]
    shares = _judged_shares(own, inputs) if inputs else {}
    return _log_z(_chi2_to_median(shares)) if len(shares) >= 3 else {}


def own_shift_rule(profiles: list[list[float]], own: list[list[float]], k: float) -> list[dict]:
    """Intervals whose own update's input shift is more than ``k`` robust sds above the run's usual."""
    return [{"interval": i, "rule": "own-shift", "z": z} for i, z in sorted(own_shift_z(profiles, own).items()) if z > k]


def spillover_filter(flagged: list[dict], profiles: list[list[float]], own: list[list[float]],
                     spill_k: float = SPILL_K) -> list[dict]:
    """Drop input-shift flags that momentum from a flagged predecessor explains.

    An input-shift flag at i is dropped when i − 1 is flagged too and i's own update (the
    carried momentum removed) is not shifted: own-shift z ≤ ``spill_k``. Why it is safe:
    i − 1 stays selected, and its replay checks the end snapshot bit for bit, momentum
    buffer included, so the buffer this judgement rests on is verified whenever it is used.
    Measured (``make bench-detection``): most false positives of the input-shift rule were
    such spillover intervals.
    """
    before = {e["interval"] for e in flagged}
    z = own_shift_z(profiles, own)
    return [e for e in flagged
            if not (e["rule"] == "input-shift" and e["interval"] - 1 in before and z.get(e["interval"], 0.0) <= spill_k)]


def _check_profiles(profiles: list[list[float]], n: int) -> None:
    if len(profiles) != n:
        raise ValueError(f"{len(profiles)} input profiles for {n} intervals")
    widths = {len(p) for p in profiles}
    if len(widths) > 1 or 0 in widths:
        raise ValueError(f"input profiles must all have the same, non-zero length; got lengths {sorted(widths)}")
    for i, p in enumerate(profiles):
        try:
            _check(list(p), 1.0)
        except ValueError as e:
            raise ValueError(f"input profile {i}: {e}") from None


def select_outliers(scores: list[float], k: float = 3.0, l2: list[float] | None = None,
                    ratio_k: float | None = None, profiles: list[list[float]] | None = None,
                    shift_k: float | None = None, own: list[list[float]] | None = None,
                    spill_k: float = SPILL_K) -> list[dict]:
    """Flag intervals to re-execute; one dict per flagged interval, ordered by interval.

    ``scores[i]`` is the Absolute Change of interval i (snapshot i to i+1); ``l2``, the
    claimed L2 scores, adds the update-density evidence (see ``detrended_rules``);
    ``profiles``, from ``metrics.input_profiles``, adds the input-shift rule (recommended:
    it is what finds poisoning, see ``shift_rule``). ``ratio_k`` and ``shift_k`` are those
    rules' thresholds (default ``k + 1``: both are noisier than the size residuals). Each
    result is ``{"interval", "rule", "z", …}`` with ``"value"`` (zero, ratio,
    input-shift) or ``"residual"`` (detrended rules). ``own``, from ``metrics.own_profiles``
    (with ``profiles``), adds the own-shift rule (threshold ``shift_k``) and drops momentum
    spillover (``spillover_filter``).
    """
    scores = list(scores)
    _check(scores, k)
    if l2 is not None:
        l2 = list(l2)
        _check(l2, k)
        if len(l2) != len(scores):
            raise ValueError(f"{len(l2)} l2 scores for {len(scores)} intervals")
    rules = [zero_rule(scores), detrended_rules(scores, k, l2), ratio_rule(scores, k + 1.0 if ratio_k is None else ratio_k)]
    shift_k = k + 1.0 if shift_k is None else shift_k
    if profiles is not None:
        profiles = [list(p) for p in profiles]
        _check_profiles(profiles, len(scores))
        rules.append(shift_rule(profiles, shift_k))
    if own is not None:
        if profiles is None:
            raise ValueError("own profiles need the plain input profiles too")
        own = [list(p) for p in own]
        _check_profiles(own, len(scores))
        rules.append(own_shift_rule(profiles, own, shift_k))
    chosen: dict[int, dict] = {}
    for found in rules:
        for entry in found:
            previous = chosen.get(entry["interval"])
            if previous is None or RULES.index(entry["rule"]) < RULES.index(previous["rule"]):
                chosen[entry["interval"]] = entry
    flagged = [chosen[i] for i in sorted(chosen)]
    if own is not None:
        flagged = spillover_filter(flagged, profiles, own, spill_k)
    return flagged
