"""Interval selection: local-trend outliers both ways, zero changes, input shift, and the audit sample."""
from __future__ import annotations

import math

import pytest

from trainproof.chaincode.contract import selection
from trainproof.chaincode.contract.prng import HashStream
from tests.contract.factories import decaying_scores

pytestmark = pytest.mark.unit


def stream(label: str = "t") -> HashStream:
    return HashStream(b"seed", label)


def noisy(n: int) -> list[float]:
    """A power-law decay with deterministic ±5 % wiggle, like real training."""
    return [s * (1 + 0.05 * math.sin(7.3 * i)) for i, s in enumerate(decaying_scores(n))]


def test_smooth_training_has_no_outliers():
    assert selection.detrended_outliers(noisy(50), 3.0) == []
    assert selection.detrended_outliers(decaying_scores(50), 3.0) == []  # exact power law: MAD floor holds


def test_a_spike_against_the_trend_is_flagged_even_late_in_training():
    scores = noisy(50)
    scores[40] *= 4  # small in absolute terms (early intervals are larger) but far off the trend
    assert scores[40] < scores[0]
    hits = selection.detrended_outliers(scores, 3.0)
    assert [h["interval"] for h in hits] == [40]
    assert hits[0]["rule"] == "detrended-mad" and hits[0]["residual"] > hits[0]["threshold"]


def test_k_sets_the_threshold():
    scores = noisy(50)
    scores[20] *= 1.05
    assert selection.detrended_outliers(scores, 3.0) == []
    assert [h["interval"] for h in selection.detrended_outliers(scores, 2.0)] == [20]


def test_too_few_positive_scores_give_no_outliers():
    assert selection.detrended_outliers([5.0, 0.0, 9.0], 3.0) == []


def warm_up_then_decay(n: int) -> list[float]:
    """Changes that rise over a learning-rate warm-up, peak near interval 6, then decay; ±5 % wiggle."""
    return [(1 + 0.05 * math.sin(7.3 * i)) * 100.0 * (i + 1) / (1 + ((i + 1) / 6) ** 1.7) for i in range(n)]


def test_a_warm_up_that_no_power_law_fits_is_not_an_outlier():
    assert selection.detrended_outliers(warm_up_then_decay(30), 3.0) == []
    assert selection.low_tail(warm_up_then_decay(30), 4.0) == []
    scores = warm_up_then_decay(30)
    scores[3] *= 2  # a spike in the warm-up stands out against the local rise
    assert [h["interval"] for h in selection.detrended_outliers(scores, 3.0)] == [3]


def test_the_claimed_schedule_divides_out_a_step_cut():
    recipe = {"steps_per_interval": 10, "optimizer": {"name": "sgd", "params": {"lr": 0.1}},
              "scheduler": {"name": "step", "params": {"step_size": 150, "gamma": 0.3}}}
    rates = selection.learning_rates(recipe, 30)
    assert rates[14] == 1.0 and rates[15] == pytest.approx(0.3)
    scores = [s * rates[i] for i, s in enumerate(noisy(30))]  # changes follow the learning rate cut at step 150
    assert set(selection.deterministic(scores, 3.0)) == {14, 15}  # a cliff no local line expects ...
    assert selection.deterministic(scores, 3.0, rates=rates) == {}  # ... is the schedule's, not a cheat's


@pytest.mark.parametrize("scheduler, at, expected", [
    (None, 7, 1.0),
    ({"name": "exponential", "params": {"gamma": 0.99}}, 2, sum(0.99 ** t for t in range(20, 30)) / 10),
    ({"name": "cosine", "params": {"T_max": 100}}, 5, sum(0.5 * (1 + math.cos(math.pi * t / 100)) for t in range(50, 60)) / 10),
    ({"name": "warmup_cosine", "params": {"warmup_steps": 20, "total_steps": 100, "min_factor": 0.1}}, 0, 5.5 / 20),
])
def test_learning_rates_follow_the_registry_schedulers(scheduler, at, expected):
    recipe = {"steps_per_interval": 10, "optimizer": {"name": "sgd", "params": {"lr": 0.1}}, "scheduler": scheduler}
    assert selection.learning_rates(recipe, 10)[at] == pytest.approx(expected)


@pytest.mark.parametrize("scheduler", [{"name": "cyclic", "params": {}}, {"name": "step", "params": {"step_size": 0}},
                                       {"name": "cosine", "params": {"T_max": 10, "eta_min": 0.01}},  # no base lr
                                       {"name": "warmup_cosine", "params": {"warmup_steps": 1, "total_steps": 20}}, "step"])
def test_an_unknown_or_unusable_schedule_leaves_the_scores_as_claimed(scheduler):
    # the last: min_factor 0 reaches a zero rate at step 20, inside the 30-step run
    recipe = {"steps_per_interval": 10, "optimizer": {"name": "sgd", "params": {}}, "scheduler": scheduler}
    assert selection.learning_rates(recipe, 3) is None


def test_a_group_of_spikes_is_flagged_whole():
    scores = noisy(40)
    for i in (20, 21, 22):
        scores[i] *= 3  # three consecutive poisoned intervals: the local line must not follow them
    assert [h["interval"] for h in selection.detrended_outliers(scores, 3.0)] == [20, 21, 22]


def test_thresholds_are_the_changes_the_outlier_rule_starts_selecting_at():
    scores = noisy(30)
    limits = selection.thresholds(scores, 3.0)
    assert limits[0] is None and all(v is not None for v in limits[1:])
    for i in (5, 17):
        assert scores[i] < limits[i]
        spiked = list(scores)
        spiked[i] = limits[i] * 1.1  # moving one score moves the run-wide spread a little
        assert i in {h["interval"] for h in selection.detrended_outliers(spiked, 3.0)}
        spiked[i] = limits[i] * 0.9
        assert i not in {h["interval"] for h in selection.detrended_outliers(spiked, 3.0)}


def test_zero_changes_are_always_selected():
    scores = noisy(20)
    scores[7] = 0.0
    picked = selection.select(scores, 3.0, 0.2, stream())
    assert {"interval": 7, "reasons": ["zero"]} in picked


@pytest.mark.parametrize("n, fraction, size", [(10, 0.2, 2), (10, 0.7, 7), (3, 0.2, 1), (1, 0.01, 1), (7, 1.0, 7)])
def test_audit_size_is_the_ceiling_and_at_least_one(n, fraction, size):
    assert selection.audit_size(n, fraction) == size


def test_selection_unions_the_rules_and_the_audit_adds_new_intervals():
    scores = noisy(30)
    scores[12] *= 6
    scores[25] = 0.0
    picked = selection.select(scores, 3.0, 0.2, stream())
    reasons = {p["interval"]: p["reasons"] for p in picked}
    assert reasons[12] == ["detrended-mad"] and reasons[25] == ["zero"]
    audited = [i for i, r in reasons.items() if r == ["audit"]]
    assert len(audited) == 6 and not {12, 25} & set(audited)
    assert [p["interval"] for p in picked] == sorted(reasons)


def test_selection_is_deterministic_and_depends_on_the_stream():
    scores = noisy(40)
    assert selection.select(scores, 3.0, 0.2, stream("a")) == selection.select(scores, 3.0, 0.2, stream("a"))
    samples = {tuple(p["interval"] for p in selection.select(scores, 3.0, 0.2, stream(str(i)))) for i in range(20)}
    assert len(samples) > 15


def test_everything_flagged_leaves_no_room_for_an_audit():
    assert selection.select([0.0, 0.0], 3.0, 0.5, stream()) == [
        {"interval": 0, "reasons": ["zero"]}, {"interval": 1, "reasons": ["zero"]}]


def honest_shifts(n: int) -> list[float]:
    return [0.0] + [0.05 * (1 + 0.2 * math.sin(2.9 * i)) for i in range(1, n)]


def test_input_shift_outliers_are_robust_z_of_the_log():
    shifts = honest_shifts(30)
    assert selection.input_shift_outliers(shifts, 4.0) == []
    shifts[7], shifts[8] = 0.5, 0.2  # a poisoned interval and the one momentum carries it into
    hits = selection.input_shift_outliers(shifts, 4.0)
    assert [h["interval"] for h in hits] == [7, 8] and all(h["z"] > h["threshold"] == 4.0 for h in hits)
    assert [h["interval"] for h in selection.input_shift_outliers(shifts, 20.0)] == []


def test_input_shift_needs_three_positive_values():
    assert selection.input_shift_outliers([0.0, 0.1, 9.0], 4.0) == []


def test_select_merges_input_shift_with_the_other_rules():
    scores, shifts = noisy(30), honest_shifts(30)
    scores[20] = 0.0
    shifts[20] = 0.0
    shifts[9] = 1.0
    picked = {e["interval"]: e for e in selection.select(scores, 3.0, 0.1, stream(), shifts, 4.0)}
    assert picked[9]["reasons"] == ["input-shift"] and picked[20]["reasons"] == ["zero"]
    assert {e["interval"] for e in selection.select(scores, 3.0, 0.1, stream(), None)} >= {20}


# --- low-tail: too-small changes (shortened or partly skipped intervals) -------------------------

def test_smooth_training_has_no_too_small_changes():
    assert selection.low_tail(noisy(50), 4.0) == []
    assert selection.low_tail(decaying_scores(50), 4.0) == []


def test_a_shortened_interval_is_flagged_below_its_neighbours_trend():
    scores = noisy(30)
    scores[17] *= 0.5  # half the steps: about half the change, against ±5 % noise
    hits = selection.low_tail(scores, 4.0)
    assert [h["interval"] for h in hits] == [17]
    assert hits[0]["rule"] == "low-tail" and hits[0]["z"] < hits[0]["threshold"] == -4.0
    picked = selection.deterministic(scores, 3.0)
    assert "low-tail" in picked[17]["reasons"] and picked[17]["low_z"] == hits[0]["z"]


def test_the_warm_up_is_not_judged_and_low_k_sets_the_threshold():
    scores = noisy(30)
    scores[1] *= 0.3
    assert selection.low_tail(scores, 4.0) == []
    scores = noisy(30)
    scores[12] *= 0.9
    assert selection.low_tail(scores, 10.0) == []
    assert 12 in {h["interval"] for h in selection.low_tail(scores, 1.0)}


def test_select_takes_low_tail_hits_out_of_the_audit_pool():
    scores = noisy(30)
    scores[17] *= 0.5
    picked = selection.select(scores, 3.0, 0.1, stream(), None, 4.0, 4.0)
    reasons = {e["interval"]: e["reasons"] for e in picked}
    assert reasons[17] == ["low-tail"] and sum(r == ["audit"] for r in reasons.values()) == 3


def test_the_assurance_is_the_exact_chance_an_evading_cheat_escapes_the_audit():
    assert selection.escape_probability(10, 2, 1) == pytest.approx(8 / 10)
    assert selection.escape_probability(10, 2, 2) == pytest.approx(math.comb(8, 2) / math.comb(10, 2))
    assert selection.escape_probability(4, 2, 5) == 0.0 and selection.escape_probability(10, 0, 3) == 1.0
    scores = noisy(20)
    scores[9] = 0.0
    picked = selection.select(scores, 3.0, 0.2, stream())
    out = selection.assurance(20, picked)
    assert out["by_rules"] == 1 and out["audited"] == 4 and out["audit_pool"] == 19
    assert out["escape"]["1"] == pytest.approx(15 / 19) and out["escape"]["5"] < out["escape"]["2"] < out["escape"]["1"]


# --- joint: two moderate excesses together -------------------------------------------------------

def test_a_moderate_size_and_a_moderate_shift_together_are_selected_by_the_joint_rule_alone():
    scores, shifts = noisy(30), honest_shifts(30)
    i = 14
    scores[i] *= 1.12  # bigger than usual, under k = 4 by itself ...
    shifts[i] *= 1.5  # ... and off the usual inputs, under shift_k = 4 by itself
    size_z = selection._standardised(selection.local_residuals(scores))
    shift_z = selection._shift_z(shifts)
    assert 0 < size_z[i] < 4 and 0 < shift_z[i] < 4 and size_z[i] + shift_z[i] > 4
    picked = selection.deterministic(scores, 4.0, shifts, 4.0, joint_k=4.0)
    assert picked[i]["reasons"] == ["joint"] and picked[i]["joint_z"] == pytest.approx(size_z[i] + shift_z[i])
    assert i not in selection.deterministic(scores, 4.0, shifts, 4.0)  # the rule is off without joint_k
    assert selection.joint_outliers(noisy(30), honest_shifts(30), 4.0) == []  # honest training: nothing


def test_a_small_change_does_not_cancel_a_large_shift_in_the_joint_rule():
    scores, shifts = noisy(30), honest_shifts(30)
    scores[14] *= 0.7
    shifts[14] *= 3.0
    z = {h["interval"]: h["z"] for h in selection.joint_outliers(scores, shifts, 1.0)}
    assert z[14] == pytest.approx(selection._shift_z(shifts)[14])  # the negative size z counts as 0


# --- probe-rise: the claimed data's loss went up ------------------------------------------------

def falling_losses(n: int) -> list[list[float]]:
    loss = [2.3 * (i + 1) ** -0.5 for i in range(n + 1)]
    return [[loss[i], loss[i + 1]] for i in range(n)]


def test_a_rise_of_the_probe_loss_is_selected_relative_to_the_initial_loss():
    probes = falling_losses(20)
    assert selection.probe_rises(probes, 0.02) == []  # honest training lowers it every interval
    probes[6][1] = probes[7][0] = probes[6][0] + 0.03 * probes[0][0]  # 3 % of the initial loss up
    hits = selection.probe_rises(probes, 0.02)
    assert [h["interval"] for h in hits] == [6] and hits[0]["rise"] == pytest.approx(0.03)
    assert selection.probe_rises(probes, 0.05) == []
    picked = selection.deterministic(noisy(20), 3.0, probes=probes, probe_rise=0.02)
    assert picked[6]["reasons"] == ["probe-rise"] and picked[6]["probe_threshold"] == 0.02
    assert selection.deterministic(noisy(20), 3.0, probes=probes) == {}  # off without probe_rise


def test_interval_zero_and_runs_without_probe_losses_are_not_judged():
    probes = falling_losses(10)
    probes[0][1] = probes[1][0] = probes[0][0] * 2  # from the initial weights: not judged
    assert selection.probe_rises(probes, 0.02) == []
    assert selection.probe_rises([[0.0, 1.0], [1.0, 2.0]], 0.02) == []  # no positive initial loss to scale by
    cert = {"scores": [{"absolute": 1.0, "input_shift": 0.0}, {"absolute": 1.0, "input_shift": 0.0}], "recipe": None}
    assert selection.claims(cert)["probes"] is None  # a certificate stored before probe losses were claimed
