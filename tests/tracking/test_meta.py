"""Meta-analysis across corpora against a published example and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ablate.tracking.meta import common_effect, random_effects, reml_tau2

#: Colditz et al.'s BCG vaccine trials (metafor's dat.bcg): tpos, tneg, cpos, cneg
BCG = [(4, 119, 11, 128), (6, 300, 29, 274), (3, 228, 11, 209), (62, 13536, 248, 12619),
       (33, 5036, 47, 5761), (180, 1361, 372, 1079), (8, 2537, 10, 619),
       (505, 87886, 499, 87892), (29, 7470, 45, 7232), (17, 1699, 65, 1600),
       (186, 50448, 141, 27197), (5, 2493, 3, 2338), (27, 16886, 29, 17825)]  # fmt: skip


def bcg() -> tuple[list[float], list[float]]:
    """Log risk ratios and their sampling variances."""
    y = [math.log(a / (a + b) / (c / (c + d))) for a, b, c, d in BCG]
    v = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d in BCG]
    return y, v


def test_the_bcg_example_matches_metafor():
    """metafor's rma(yi, vi, data = dat.bcg, test = "knha"): tau^2 (REML) 0.3132,
    estimate -0.7145, Knapp-Hartung SE 0.1808, 95% CI -1.1084 to -0.3206, Q(12) 152.23."""
    y, v = bcg()
    found = random_effects(y, v)
    assert found.tau2 == pytest.approx(0.3132, abs=1e-4)
    assert found.estimate == pytest.approx(-0.7145, abs=1e-4)
    assert found.se == pytest.approx(0.1808, abs=1e-4)
    assert (found.low, found.high) == pytest.approx((-1.1084, -0.3206), abs=1e-4)
    assert found.q == pytest.approx(152.233, abs=1e-3) and found.df == 12
    assert found.i2 == pytest.approx((152.233 - 12) / 152.233, abs=1e-5)


def test_reml_tau2_maximises_the_restricted_likelihood():
    y, v = (np.asarray(x) for x in bcg())

    def restricted(t: float) -> float:
        w = 1 / (v + t)
        mean = np.sum(w * y) / np.sum(w)
        return -0.5 * (np.sum(np.log(v + t)) + np.log(np.sum(w)) + np.sum(w * (y - mean) ** 2))

    tau2 = reml_tau2(y, v)
    assert restricted(tau2) >= max(restricted(tau2 * 0.98), restricted(tau2 * 1.02))


def test_two_corpora_that_agree_closely_keep_a_wide_interval():
    """Plain Hartung-Knapp with q near 0 would give an interval narrower than either
    corpus's; the modified form never goes below 1 / sum of weights, times t(1)."""
    found = random_effects([-0.200, -0.201], [0.03**2, 0.03**2])
    assert found.df == 1 and found.tau2 == 0
    half = stats.t.ppf(0.975, 1) * math.sqrt(1 / (2 / 0.03**2))
    assert found.high - found.estimate == pytest.approx(half)


def test_common_effect_is_inverse_variance_with_satterthwaite_df():
    found = common_effect([0.1, 0.2], [0.01**2, 0.02**2], [7, 23])
    w = np.array([1 / 0.01**2, 1 / 0.02**2])
    assert found.estimate == pytest.approx(np.sum(w * [0.1, 0.2]) / w.sum())
    assert found.se == pytest.approx(math.sqrt(1 / w.sum()))
    parts = (w / w.sum()) ** 2 * [0.01**2, 0.02**2]
    assert found.df == pytest.approx(parts.sum() ** 2 / np.sum(parts**2 / [7, 23]))
    assert 7 < found.df < 30


def test_one_corpus_or_an_unusable_variance_is_not_combined():
    assert math.isnan(random_effects([0.1], [0.01]).estimate)
    assert math.isnan(common_effect([0.1, 0.2], [0.0, 0.01], [7, 7]).estimate)


def test_random_effects_coverage_with_three_heterogeneous_corpora():
    """Three corpora whose true effects differ (tau 0.03) around 0.02, each measured on
    8-24 speakers: the modified Hartung-Knapp interval covers 0.02 at least 95% of the
    time (Monte-Carlo error 3 SE); it is conservative with so few corpora, by design."""
    rng = np.random.default_rng(11)
    n, hits = np.array([8, 16, 24]), 0
    runs = 2000
    for _ in range(runs):
        truth = 0.02 + rng.normal(0, 0.03, 3)
        d = [rng.normal(t, 0.06, k) for t, k in zip(truth, n, strict=True)]
        found = random_effects([x.mean() for x in d], [x.var(ddof=1) / len(x) for x in d])
        hits += found.low <= 0.02 <= found.high
    assert hits / runs >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / runs)
