"""Outlier rules: pure Python, deterministic, one entry per flagged interval."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainproof.ml.outliers import local_residuals, select_outliers, theil_sen

pytestmark = pytest.mark.ml

REPO = Path(__file__).resolve().parents[2]


def decaying(n: int = 40, peak: float = 100.0) -> list[float]:
    """An honest-looking series: big early updates, power-law decay, a little noise."""
    return [peak * (i + 1) ** -0.7 * (1 + 0.05 * math.sin(3.7 * i)) for i in range(n)]


def test_importing_pulls_in_no_numeric_library():
    code = "import sys, trainproof.ml.outliers; print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'clients'}{os.pathsep}{REPO}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
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
