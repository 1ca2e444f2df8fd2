"""Intervals on hand-worked cases: Wilson, the paired bootstrap, the sign test, timing spreads."""

import numpy as np
import pytest

from analysis.stats import (
    mean_interval,
    paired_difference,
    percentile_spread,
    sign_test_p,
    significant,
    wilson,
)


def test_wilson_three_of_six_hand_worked():
    # p = 0.5, n = 6, z = 1.96: centre = (0.5 + 3.8415/12) / (1 + 3.8415/6) = 0.5;
    # half = 1.96 * sqrt(0.25/6 + 3.8415/144) / 1.64025 = 1.96 * 0.261428 / 1.64025 = 0.31239
    est = mean_interval([100, 0, 100, 0, 100, 0])
    assert est.method == "wilson" and est.n == 6 and est.mean == 50.0
    assert est.lo == pytest.approx(18.76, abs=0.005)
    assert est.hi == pytest.approx(81.24, abs=0.005)


def test_wilson_at_zero_successes():
    # 0 of 5: lower bound 0, upper z^2 / (n + z^2) = 3.8415 / 8.8415 = 0.4345
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-4)
    lo, hi = wilson(5, 5)  # symmetric, and p itself stays inside its interval
    assert hi == 1.0 and lo == pytest.approx(1 - 0.4345, abs=1e-4)


def test_non_binary_scores_use_the_bootstrap():
    values = [12.5, 40.0, 33.3, 90.0, 61.0, 7.0, 55.5]
    est = mean_interval(values)
    assert est.method == "bootstrap" and est.lo < np.mean(values) < est.hi
    assert mean_interval(values) == est  # seeded: a rebuilt report is identical
    assert mean_interval([3.0], top=None).method == "none"


def test_paired_difference_on_identical_predictions_is_exactly_zero():
    scores = [100, 0, 100, 100, 0, 0, 100, 0, 100]
    est = paired_difference(scores, scores)
    assert est.mean == 0.0 and est.lo == 0.0 and est.hi == 0.0
    assert not est.excludes_zero
    assert sign_test_p(scores, scores) == 1.0


def test_paired_difference_detects_a_consistent_gap():
    full, swa = [100] * 7 + [0, 100], [0] * 9
    est = paired_difference(full, swa)
    assert est.mean == pytest.approx(800 / 9) and est.excludes_zero and est.lo > 0
    # 8 discordant pairs, all one way: two-sided exact p = 2 / 2^8
    assert sign_test_p(full, swa) == pytest.approx(2 / 256)
    assert not paired_difference([100, 0, 0, 0], [0, 0, 0, 100]).excludes_zero


def test_percentile_spread():
    p10, p50, p90, n = percentile_spread(list(range(1, 12)))  # 1..11
    assert (p10, p50, p90, n) == (2.0, 6.0, 10.0, 11)
    assert percentile_spread([0.5])[3] == 1 and np.isnan(percentile_spread([0.5])[0])


def test_significance_needs_the_sign_test_for_pass_fail_scores():
    # 3 of 3 pairs one way: the bootstrap interval is [100, 100] but the sign test gives p = 0.25.
    est = paired_difference([100] * 3, [0] * 3)
    assert est.excludes_zero and sign_test_p([100] * 3, [0] * 3) == 0.25
    assert not significant(est, sign_test_p([100] * 3, [0] * 3))
    # 6 of 9 one way, none the other: p = 2 / 2^6 = 0.031.
    full, swa = [100] * 6 + [0] * 3, [0] * 9
    assert significant(paired_difference(full, swa), sign_test_p(full, swa))
    assert significant(paired_difference([3.0, 2.5, 4.0], [1.0, 1.0, 1.5]))  # not pass/fail: interval only
