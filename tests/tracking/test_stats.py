"""The statistics module against scipy and against textbook formulas computed another way."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from scipy import stats

from ablate.intervals import t_interval
from ablate.tracking.stats import (
    against,
    contrasts,
    factorial_contrasts,
    fold_means,
    holm,
    paired,
    rm_test,
    seed_sd,
)


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


def test_paired_edge_cases():
    same = paired({"a": 0.5, "b": 0.6}, {"a": 0.5, "b": 0.6})
    assert (same.diff, same.p) == (0.0, 1.0)
    shifted = paired({"a": 0.5, "b": 0.6}, {"a": 0.25, "b": 0.35})
    assert shifted.p == 0.0 and shifted.low == shifted.high == pytest.approx(-0.25)
    assert math.isnan(paired({"a": 0.5}, {"a": 0.4}).p)
    assert paired({"a": 0.5}, {"b": 0.4}).n == 0


def test_holm_step_down_and_monotone():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    assert adjusted["a"] == pytest.approx(0.03)
    assert adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06)  # 0.04 x 1, raised to the step before it
    assert math.isnan(adjusted["d"])


def test_against_a_named_reference_corrects_over_k_minus_1_and_a_best_one_over_all_pairs():
    rng = np.random.default_rng(1)
    samples = {name: dict(enumerate(rng.normal(0.5, 0.1, 8))) for name in "abcde"}
    rows, adjusted, family = against(samples, "a", post_hoc=False)
    assert set(rows) == set("bcde") and family == 4
    assert adjusted == pytest.approx(holm({k: r.p for k, r in rows.items()}))
    _, adjusted_all, family_all = against(samples, "a", post_hoc=True)
    assert family_all == 10
    assert all(adjusted_all[k] >= adjusted[k] for k in rows)


def test_contrasts_are_orthonormal_and_orthogonal_to_the_mean():
    for levels in (2, 3, 5):
        c = contrasts(levels)
        assert c @ c.T == pytest.approx(np.eye(levels - 1))
        assert c @ np.ones(levels) == pytest.approx(np.zeros(levels - 1))
    m = factorial_contrasts([3, 4], [0, 1])
    assert m.shape == (6, 12) and m @ m.T == pytest.approx(np.eye(6))


def sums_of_squares(y: np.ndarray) -> dict[str, tuple[float, int, float, int]]:
    """Two-way repeated-measures ANOVA by its textbook sums of squares: y is
    subjects x a x b; returns effect -> (SS, df, SS of effect x subject, its df)."""
    n, a, b = y.shape
    grand = y.mean()
    s = y.mean(axis=(1, 2))
    ma, mb = y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    sa, sb, ab = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    ss_a = n * b * ((ma - grand) ** 2).sum()
    ss_b = n * a * ((mb - grand) ** 2).sum()
    ss_ab = n * ((ab - ma[:, None] - mb[None, :] + grand) ** 2).sum()
    ss_as = b * ((sa - s[:, None] - ma[None, :] + grand) ** 2).sum()
    ss_bs = a * ((sb - s[:, None] - mb[None, :] + grand) ** 2).sum()
    residual = y - sa[:, :, None] - sb[:, None, :] - ab[None] + s[:, None, None]
    residual += ma[None, :, None] + mb[None, None, :] - grand
    ss_abs = (residual**2).sum()
    return {
        "a": (ss_a, a - 1, ss_as, (a - 1) * (n - 1)),
        "b": (ss_b, b - 1, ss_bs, (b - 1) * (n - 1)),
        "ab": (ss_ab, (a - 1) * (b - 1), ss_abs, (a - 1) * (b - 1) * (n - 1)),
    }


def test_rm_anova_f_matches_the_sums_of_squares_formulas():
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, (8, 3, 4)) + rng.normal(0, 2, (8, 1, 1)) + [[[0, 0.5, 1, 0]]]
    scores = y.reshape(8, 12)
    reference = sums_of_squares(y)
    for name, effect in (("a", [0]), ("b", [1]), ("ab", [0, 1])):
        test = rm_test(scores, factorial_contrasts([3, 4], effect))
        ss, df1, ss_err, df2 = reference[name]
        assert (test.df1, test.df2) == (df1, df2)
        assert test.f == pytest.approx((ss / df1) / (ss_err / df2))
        assert 1 / df1 - 1e-12 <= test.epsilon <= 1
        eps = test.epsilon
        assert test.p == pytest.approx(stats.f.sf(test.f, eps * df1, eps * df2))


def box_epsilon(x: np.ndarray) -> float:
    """Greenhouse-Geisser epsilon of a one-way design (subjects x k) by Box's formula on the
    covariance matrix of the k conditions."""
    s = np.cov(x, rowvar=False)
    k = s.shape[0]
    top = k**2 * (np.mean(np.diag(s)) - s.mean()) ** 2
    bottom = (k - 1) * ((s**2).sum() - 2 * k * (s.mean(axis=1) ** 2).sum() + k**2 * s.mean() ** 2)
    return top / bottom


def test_greenhouse_geisser_epsilon_matches_boxs_formula():
    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, (8, 4, 3)) * [[[1], [2], [0.5], [3]]] + rng.normal(0, 1, (8, 1, 1))
    test = rm_test(y.reshape(8, 12), factorial_contrasts([4, 3], [0]))
    assert test.epsilon == pytest.approx(box_epsilon(y.mean(axis=2)))
    assert test.epsilon < 0.9  # unequal variances: the correction matters here


def test_a_2x2_interaction_is_the_paired_t_test_of_the_difference_of_differences():
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, (7, 2, 2))
    test = rm_test(y.reshape(7, 4), factorial_contrasts([2, 2], [0, 1]))
    contrast = y[:, 0, 0] - y[:, 0, 1] - y[:, 1, 0] + y[:, 1, 1]
    t = stats.ttest_1samp(contrast, 0)
    assert test.f == pytest.approx(t.statistic**2)
    assert test.p == pytest.approx(t.pvalue) and test.epsilon == pytest.approx(1.0)


def test_the_interaction_test_holds_its_level_under_the_null():
    """Fold effects and noise but no interaction: about 5% (within Monte-Carlo error) of
    simulated 3 x 4 x 8-fold grids reject."""
    rng = np.random.default_rng(4)
    rejections = 0
    for _ in range(2000):
        y = rng.normal(0, 0.1, (8, 1)) + rng.normal(0, 0.05, (8, 12)) + np.arange(12) * 0.01
        rejections += rm_test(y, factorial_contrasts([3, 4], [0, 1])).p <= 0.05
    assert rejections / 2000 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 2000)
    assert sum(1 for _ in product(range(3), range(4))) == 12
