"""The statistics module against scipy and against textbook formulas computed another way."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from ablate.intervals import mean_se, score_interval, t_interval
from ablate.tracking.stats import fold_means, holm, paired, seed_sd
from ablate.tracking.verdicts import against


def test_fold_means_average_each_folds_seeds_first():
    values = {(0, "a"): 0.5, (1, "a"): 0.7, (2, "a"): 0.9, (0, "b"): 0.2}
    assert fold_means(values) == pytest.approx({"a": 0.7, "b": 0.2})


def test_seed_sd_pools_the_within_fold_variance_and_ignores_single_seed_folds():
    values = {(0, "a"): 0.5, (1, "a"): 0.7, (0, "b"): 0.2, (1, "b"): 0.2, (0, "c"): 0.9}
    assert seed_sd(values) == pytest.approx(math.sqrt((0.02 + 0.0) / 2))
    assert math.isnan(seed_sd({(0, "a"): 0.5, (0, "b"): 0.6}))


def test_t_interval_matches_scipy():
    x = [0.41, 0.55, 0.62, 0.48, 0.37, 0.59, 0.66, 0.51]
    interval = t_interval(x)
    low, high = stats.t.interval(0.95, len(x) - 1, np.mean(x), stats.sem(x))
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)
    assert interval.sd == pytest.approx(np.std(x, ddof=1)) and interval.n == 8
    one = t_interval([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and one.n == 1


def test_paired_matches_ttest_rel_and_its_interval_agrees_with_its_p():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = dict(enumerate(rng.normal(0.5, 0.1, 6)))
        b = {k: v + rng.normal(0.03, 0.05) for k, v in a.items()}
        result = paired(a, b)
        assert result.p == pytest.approx(stats.ttest_rel(list(b.values()), list(a.values())).pvalue)
        assert (result.low > 0 or result.high < 0) == (result.p < 0.05)


def test_paired_uses_only_the_folds_both_have_for_diff_interval_and_p():
    reference = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.9}
    other = {"a": 0.4, "b": 0.55, "c": 0.5, "e": 0.1}
    result = paired(reference, other)
    assert result.n == 3
    assert result.diff == pytest.approx(np.mean([-0.1, -0.05, -0.2]))
    assert result.p == pytest.approx(stats.ttest_rel([0.4, 0.55, 0.5], [0.5, 0.6, 0.7]).pvalue)


def test_a_constant_difference_is_not_testable_rather_than_p_0_or_1():
    """It gave p = 0 ("significant") for a difference the same on every fold, however
    small, and p = 1 for two identical arms: a t-test has no spread to judge either."""
    same = paired({"a": 0.5, "b": 0.6}, {"a": 0.5, "b": 0.6})
    assert same.diff == 0.0 and math.isnan(same.p) and same.se == 0
    shifted = paired({"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 0.25, "b": 0.35, "c": 0.45})
    assert math.isnan(shifted.p) and shifted.se == 0
    assert shifted.low == shifted.high == pytest.approx(-0.25)
    assert math.isnan(paired({"a": 0.5}, {"a": 0.4}).p)
    assert paired({"a": 0.5}, {"b": 0.4}).n == 0


def test_clustered_units_without_clusters_are_the_plain_t_interval():
    x = [0.41, 0.55, 0.62, 0.48, 0.37, 0.59]
    assert mean_se(x, list(range(6))) == pytest.approx(mean_se(x))
    assert t_interval(x, list("abcdef")) == t_interval(x)


def test_balanced_clusters_give_the_t_interval_over_the_cluster_means():
    """With equal speakers per fold, the cluster-robust standard error over folds is the
    t-interval of the fold means, on folds - 1 degrees of freedom."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 0.1, 15)
    folds = np.repeat(np.arange(5), 3)
    means = [x[folds == f].mean() for f in range(5)]
    mean, _, se, df = mean_se(list(x), list(folds))
    assert df == 4 and mean == pytest.approx(np.mean(means))
    assert se == pytest.approx(stats.sem(means))


def test_unbalanced_clusters_use_the_cr1_sandwich():
    x = np.array([0.2, 0.4, 0.9, 0.5, 0.6, 0.1, 0.3])
    folds = np.array([0, 0, 0, 1, 1, 2, 2])
    residual = np.array([(x[folds == g] - x.mean()).sum() for g in range(3)])
    by_hand = 3 / 2 * (residual**2).sum() / len(x) ** 2
    _, _, se, df = mean_se(list(x), list(folds))
    assert (se**2, df) == (pytest.approx(by_hand), 2)


def test_score_intervals_stay_inside_0_1_and_match_the_t_interval_in_the_middle():
    """It printed 0.975 [0.885, 1.065]: a t-interval of scores near 1 crosses 1. On the
    logit scale it cannot, and for scores around 0.5 it is the t-interval."""
    high = [1.0, 1.0, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert t_interval(high).high > 1
    bounded = score_interval(high)
    assert 0 < bounded.low < bounded.mean < bounded.high < 1
    se = stats.sem(high)
    logit_half = stats.t.ppf(0.975, 7) * se / (bounded.mean * (1 - bounded.mean))
    assert bounded.high == pytest.approx(special.expit(special.logit(0.975) + logit_half))
    middle = [0.48, 0.52, 0.5, 0.47, 0.53, 0.51]
    plain, logit = t_interval(middle), score_interval(middle)
    assert (logit.low, logit.high) == pytest.approx((plain.low, plain.high), abs=2e-4)
    assert score_interval([0.2, 0.2]).low == 0.2  # no spread: the mean itself
    zero = score_interval([0.0, 0.0, 0.0])
    assert zero.low == zero.high == 0.0
    assert math.isnan(score_interval([0.3]).low)


def test_holm_step_down_and_monotone():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    assert adjusted["a"] == pytest.approx(0.03)
    assert adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06)  # 0.04 x 1, raised to the step before it
    assert math.isnan(adjusted["d"])


def test_against_a_named_reference_corrects_over_k_minus_1_and_a_best_one_over_all_pairs():
    rng = np.random.default_rng(1)
    samples = {name: dict(enumerate(rng.normal(0.5, 0.1, 8))) for name in "abcde"}
    rows, family = against(samples, "a", post_hoc=False)
    assert set(rows) == set("bcde") and family == 4
    adjusted = {k: r.p_holm for k, r in rows.items()}
    assert adjusted == pytest.approx(holm({k: r.paired.p for k, r in rows.items()}))
    every, family_all = against(samples, "a", post_hoc=True)
    assert family_all == 10
    assert all(every[k].p_holm >= adjusted[k] for k in rows)
    assert all(every[k].paired == rows[k].paired for k in rows)  # b - a, whichever family
