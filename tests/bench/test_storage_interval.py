"""bench-storage's confidence interval for the median cost of sealing: its coverage and its edges."""
from __future__ import annotations

import random
from statistics import median

import pytest

from bench.storage import median_interval

pytestmark = pytest.mark.unit


def test_too_few_pairs_give_no_interval_rather_than_a_narrow_one():
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) is None  # 5 samples: even min..max covers only 94 %
    assert median_interval([6.0, 1.0, 2.0, 5.0, 4.0, 3.0]) == (1.0, 6.0)


def test_the_interval_is_made_of_order_statistics_around_the_median():
    values = [float(v) for v in range(24)]
    random.Random(1).shuffle(values)
    low, high = median_interval(values)
    assert (low, high) == (6.0, 17.0)  # the 7th smallest and the 7th largest: 97.7 % coverage at n = 24
    assert low <= median(values) <= high


@pytest.mark.parametrize("n", [6, 10, 24, 41])
def test_it_covers_the_true_median_at_least_95_percent_of_the_time_whatever_the_noise(n):
    """Heavy-tailed, skewed noise (what a shared machine gives) with a known median of 10: half the
    samples fall below 10 and half above, the ones above spread three times as far."""
    rng = random.Random(n)
    trials, covered = 2000, 0
    for _ in range(trials):
        values = [10 + (rng.paretovariate(1.5) - 1) * rng.choice([-1, 3]) for _ in range(n)]
        low, high = median_interval(values)
        covered += low <= 10 <= high
    assert covered / trials >= 0.93  # the nominal 95 % less sampling error over 2000 trials
