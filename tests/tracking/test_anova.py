"""The repeated-measures ANOVA of ``--effects`` against textbook sums of squares, Box's
epsilon, the paired t-test it reduces to, and its level under the null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ablate.tracking.anova import contrasts, factorial_contrasts, rm_test


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
