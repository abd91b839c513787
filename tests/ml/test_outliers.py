"""Outlier rules: pure Python, deterministic, one entry per flagged interval."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from trainproof.ml.outliers import local_residuals, select_outliers, shift_rule, spillover_filter, theil_sen

pytestmark = pytest.mark.ml



def decaying(n: int = 40, peak: float = 100.0) -> list[float]:
    """An honest-looking series: big early updates, power-law decay, a little noise."""
    return [peak * (i + 1) ** -0.7 * (1 + 0.05 * math.sin(3.7 * i)) for i in range(n)]


def test_importing_pulls_in_no_numeric_library():
    code = "import sys, trainproof.ml.outliers; print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_honest_decay_flags_nothing():
    assert select_outliers(decaying()) == []


def test_each_rule():
    s = decaying()
    s[25] *= 4.0  # poisoned
    s[10] = 0.0  # skipped
    s[33] *= 0.2  # shortened
    got = {e["interval"]: e["rule"] for e in select_outliers(s)}
    assert got == {10: "zero", 25: "detrended-mad", 33: "low-tail"}


def test_update_density_adds_evidence():
    """A backdoor makes the update sparser: |d|₁/|d|₂ drops while the size grows a little."""
    s = decaying()
    l2 = [v / 30.0 for v in s]
    s[20] *= 1.08  # too small a jump on its own
    assert 20 not in {e["interval"] for e in select_outliers(s)}
    l2[20] = s[20] / 24.0  # density 30 → 24
    assert {e["interval"]: e["rule"] for e in select_outliers(s, l2=l2)} == {20: "detrended-mad"}


def test_first_interval_is_left_to_the_audit():
    s = decaying()
    s[0] *= 0.2  # no momentum yet: honest and small
    assert select_outliers(s) == []
    s[0] = 0.0
    assert select_outliers(s) == [{"interval": 0, "rule": "zero", "value": 0.0}]


def test_ratio_rule_catches_a_group_start():
    s = decaying()
    for i in range(20, 40):  # a long poisoned tail drags the trend fit up
        s[i] *= 2.5
    flagged = {e["interval"]: e for e in select_outliers(s)}
    assert 20 in flagged


def test_theil_sen_recovers_line_despite_outliers():
    xs = [float(i) for i in range(20)]
    ys = [2.0 - 0.5 * x for x in xs]
    ys[3] = 100.0
    ys[7] = -50.0
    intercept, slope = theil_sen(xs, ys)
    assert (intercept, slope) == pytest.approx((2.0, -0.5))
    residuals = local_residuals([float(v) for v in ys], 3, exclude={3, 7})
    assert residuals[3] == pytest.approx(100.0 - 0.5) and residuals[10] == pytest.approx(0.0)


def test_output_is_deterministic_and_ordered():
    s = decaying()
    s[5] *= 5
    s[30] *= 5
    a, b = select_outliers(s), select_outliers(list(s))
    assert a == b and [e["interval"] for e in a] == sorted(e["interval"] for e in a)


@pytest.mark.parametrize("bad", [[1.0, -1.0], [float("nan")], [float("inf")], ["1"]])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        select_outliers(bad)


def honest_profiles(n: int = 40, width: int = 16) -> list[list[float]]:
    """Updates spread over the inputs the same way every interval, with some wobble; input 0 never moves."""
    return [[0.0] + [(1 + c % 5) * (1 + 0.1 * math.sin(1.3 * i + c)) * 100 * (i + 1) ** -0.7 for c in range(1, width)]
            for i in range(n)]


def test_input_shift_flags_an_update_landing_on_quiet_inputs():
    s, profiles = decaying(), honest_profiles()
    assert select_outliers(s, profiles=profiles) == []
    profiles[17] = list(profiles[17])
    profiles[17][0] = 0.05 * sum(profiles[17])  # 5 % of the update on an input honest data never moves
    profiles[29] = [v * (3.0 if c in (3, 4) else 1.0) for c, v in enumerate(profiles[29])]
    got = {e["interval"]: e["rule"] for e in select_outliers(s, profiles=profiles)}
    assert got == {17: "input-shift", 29: "input-shift"}
    assert [e["interval"] for e in shift_rule(profiles, 4.0)] == [17, 29]


def test_input_shift_ignores_size_and_the_first_interval():
    s, profiles = decaying(), honest_profiles()
    profiles[10] = [4.0 * v for v in profiles[10]]  # same shares, bigger update: not this rule's business
    profiles[0] = [1.0] * 16  # interval 0 is left to the audit
    assert shift_rule(profiles, 4.0) == []


@pytest.mark.parametrize("profiles, message", [
    ([[1.0, 2.0]] * 39, "39 input profiles for 40 intervals"),
    ([[1.0, 2.0]] * 39 + [[1.0]], "same, non-zero length"),
    ([[1.0, 2.0]] * 39 + [[1.0, float("nan")]], "input profile 39"),
])
def test_bad_profiles_are_refused(profiles, message):
    with pytest.raises(ValueError, match=message):
        select_outliers(decaying(), profiles=profiles)


def test_real_poisoned_intervals_are_flagged_by_input_shift(tmp_path):
    """On real training: a backdoor in intervals 9 and 21 shows in where the update lands."""
    from trainproof.ml.certificate import snapshot_paths
    from demo.digits import train_digits
    from trainproof.ml.metrics import input_profiles, score_run

    run = train_digits(tmp_path, hidden=[64], intervals=30, steps_per_interval=10, seed=11, poison_intervals=[9, 21])
    paths = snapshot_paths(tmp_path, run)
    scores = [s["absolute"] for s in score_run(paths)]
    flagged = {e["interval"] for e in select_outliers(scores, profiles=input_profiles(paths)) if e["rule"] == "input-shift"}
    assert {9, 21} <= flagged
    clean_dir = tmp_path / "clean"
    clean = train_digits(clean_dir, hidden=[64], intervals=30, steps_per_interval=10, seed=11)
    clean_paths = snapshot_paths(clean_dir, clean)
    assert shift_rule(input_profiles(clean_paths), 4.0) == []


def test_spillover_is_dropped_only_after_a_flagged_interval_and_when_its_own_update_is_normal():
    """The own profile (momentum removed) decides whether the interval after a flagged one is
    shifted by itself; without a flagged predecessor nothing is dropped."""
    profiles = honest_profiles()
    shifted = [v * (3.0 if c in (3, 4) else 1.0) for c, v in enumerate(profiles[11])]
    flags = [{"interval": 10, "rule": "input-shift"}, {"interval": 11, "rule": "input-shift"}]
    own_normal = [list(p) for p in profiles]
    own_shifted = [list(p) for p in profiles]
    own_shifted[11] = shifted
    assert [e["interval"] for e in spillover_filter(flags, profiles, own_normal)] == [10]
    assert [e["interval"] for e in spillover_filter(flags, profiles, own_shifted)] == [10, 11]
    assert [e["interval"] for e in spillover_filter(flags[1:], profiles, own_normal)] == [11]
    size_flag = [{"interval": 10, "rule": "input-shift"}, {"interval": 11, "rule": "detrended-mad"}]
    assert spillover_filter(size_flag, profiles, own_normal) == size_flag  # only input-shift flags are judged


def test_own_shift_flags_a_shift_that_only_the_own_update_shows():
    """The raw profile can blur a poisoned interval (honest momentum carried in); the own one does not."""
    s, profiles = decaying(), honest_profiles()
    own = [list(p) for p in profiles]
    own[12] = [v * (3.0 if c in (3, 4) else 1.0) for c, v in enumerate(own[12])]
    got = select_outliers(s, profiles=profiles, own=own)
    assert [(e["interval"], e["rule"]) for e in got] == [(12, "own-shift")] and got[0]["z"] > 4.0
    assert select_outliers(s, profiles=profiles, own=[list(p) for p in profiles]) == []


def test_own_profiles_need_the_plain_ones():
    with pytest.raises(ValueError, match="need the plain input profiles"):
        select_outliers(decaying(), own=honest_profiles())


def test_real_momentum_spillover_is_dropped_and_the_poisoned_intervals_kept(tmp_path):
    """Real training, SGD with momentum 0.9: the interval right after each poisoned one is
    flagged by the input shift alone, and the own profiles clear exactly those."""
    from trainproof.ml.certificate import snapshot_paths
    from demo.digits import train_digits
    from trainproof.ml.metrics import input_profiles, own_profiles, score_run

    run = train_digits(tmp_path, hidden=[64], intervals=30, steps_per_interval=10, seed=13, poison_intervals=[5, 20])
    paths = snapshot_paths(tmp_path, run)
    scores, profiles = [s["absolute"] for s in score_run(paths)], input_profiles(paths)
    plain = {e["interval"] for e in select_outliers(scores, profiles=profiles)}
    assert plain == {5, 6, 20, 21}
    assert {e["interval"] for e in select_outliers(scores, profiles=profiles, own=own_profiles(paths))} == {5, 20}
