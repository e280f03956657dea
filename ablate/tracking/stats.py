"""Statistics over test folds: intervals, paired comparisons, Holm, repeated-measures ANOVA.

Pure numpy/scipy, no MLflow. The unit of analysis is the test fold (a speaker, or a group of
speakers): a model's seeds on the same fold share its test speakers, so they are averaged
within the fold first and every interval and test below works on fold means. Why each
choice (t-interval, paired t-test, Holm, Greenhouse-Geisser) is in docs/studies.md; the
simulation in tests/tracking/test_stats_simulation.py checks their error rates.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special, stats

from ablate.intervals import t_interval

ALPHA = 0.05
NAN = math.nan


@dataclass(frozen=True)
class Paired:
    """``other - reference`` over the ``n`` folds both have: mean difference, its 95%
    t-interval and the two-sided paired t-test's p-value."""

    diff: float
    low: float
    high: float
    p: float
    n: int


@dataclass(frozen=True)
class FTest:
    """A repeated-measures F-test; ``p`` uses the Greenhouse-Geisser ``epsilon``."""

    f: float
    df1: int
    df2: int
    p: float
    epsilon: float


def fold_means(values: Mapping[tuple[Hashable, Hashable], float]) -> dict[Hashable, float]:
    """``{(seed, fold): value}`` -> ``{fold: mean over that fold's seeds}``."""
    by_fold: dict[Hashable, list[float]] = {}
    for (_, fold), value in values.items():
        by_fold.setdefault(fold, []).append(value)
    return {fold: statistics.fmean(v) for fold, v in by_fold.items()}


def seed_sd(values: Mapping[tuple[Hashable, Hashable], float]) -> float:
    """Spread between seeds on the same fold: the square root of the within-fold variance,
    pooled over the folds that have two or more seeds (NaN when none has)."""
    by_fold: dict[Hashable, list[float]] = {}
    for (_, fold), value in values.items():
        by_fold.setdefault(fold, []).append(value)
    spread = [(len(v) - 1, statistics.variance(v)) for v in by_fold.values() if len(v) > 1]
    dof = sum(d for d, _ in spread)
    return math.sqrt(sum(d * var for d, var in spread) / dof) if dof else NAN


def paired(reference: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> Paired:
    """``other - reference`` paired over the folds both have (a paired t-test is a
    one-sample t-test of those differences, so the interval and p always agree)."""
    shared = [fold for fold in reference if fold in other]
    diffs = [other[fold] - reference[fold] for fold in shared]
    n = len(diffs)
    if n < 2:
        return Paired(statistics.fmean(diffs) if diffs else NAN, NAN, NAN, NAN, n)
    interval = t_interval(diffs)
    if interval.sd == 0:  # every fold moved by the same amount: no spread to test against
        p = 1.0 if interval.mean == 0 else 0.0
        return Paired(interval.mean, interval.mean, interval.mean, p, n)
    t = interval.mean / (interval.sd / math.sqrt(n))
    p = float(2 * special.stdtr(n - 1, -abs(t)))
    return Paired(interval.mean, interval.low, interval.high, p, n)


def holm(pvalues: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Holm-adjusted p-values over the family ``pvalues`` (NaN ones are not tested and stay
    NaN). A hypothesis is rejected at family-wise ``ALPHA`` when its adjusted p <= ALPHA."""
    tested = sorted(
        ((p, key) for key, p in pvalues.items() if not math.isnan(p)), key=lambda t: t[0]
    )
    m = len(tested)
    adjusted: dict[Hashable, float] = {key: NAN for key in pvalues}
    running = 0.0
    for rank, (p, key) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[key] = running
    return adjusted


def pairwise(samples: Mapping[str, Mapping[Hashable, float]]) -> dict[tuple[str, str], Paired]:
    """Every pair of groups, ``(a, b)`` holding ``b - a``."""
    return {(a, b): paired(samples[a], samples[b]) for a, b in combinations(samples, 2)}


def against(
    samples: Mapping[str, Mapping[Hashable, float]], reference: str, post_hoc: bool
) -> tuple[dict[str, Paired], dict[str, float], int]:
    """Each group against ``reference``: the comparisons, their Holm-adjusted p-values and
    the size of the Holm family.

    A reference named in advance is compared with the ``k - 1`` others and Holm runs over
    those. A reference picked after looking (the best group) is selected for being high,
    so the differences to it are biased; its comparisons are then corrected as members of
    the family of all ``k (k - 1) / 2`` pairs, which holds the family-wise error rate
    whichever group came out best.
    """
    rows = {name: paired(samples[reference], values) for name, values in samples.items()}
    del rows[reference]
    family: dict[Hashable, float] = {(reference, name): c.p for name, c in rows.items()}
    if post_hoc:
        family = {pair: c.p for pair, c in pairwise(samples).items()}
    adjusted = holm(family)
    by_name = {}
    for name in rows:
        key = (reference, name) if (reference, name) in adjusted else (name, reference)
        by_name[name] = adjusted[key]
    return rows, by_name, sum(not math.isnan(p) for p in family.values())


def contrasts(levels: int) -> np.ndarray:
    """``levels - 1`` orthonormal contrasts (normalised Helmert), rows orthogonal to 1."""
    rows = np.zeros((levels - 1, levels))
    for i in range(1, levels):
        rows[i - 1, :i] = 1.0
        rows[i - 1, i] = -i
        rows[i - 1] /= math.sqrt(i * (i + 1))
    return rows


def factorial_contrasts(levels: Sequence[int], effect: Sequence[int]) -> np.ndarray:
    """Contrasts of the main effect or interaction of the factors ``effect`` (indices into
    ``levels``) in a full grid whose cells are ordered as ``numpy.ndindex(*levels)``."""
    matrix = np.ones((1, 1))
    for index, count in enumerate(levels):
        part = contrasts(count) if index in effect else np.full((1, count), 1 / math.sqrt(count))
        matrix = np.kron(matrix, part)
    return matrix


def rm_test(scores: np.ndarray, contrast: np.ndarray) -> FTest:
    """Repeated-measures F-test of ``contrast`` (orthonormal rows) on ``scores`` (subjects x
    cells): the univariate F of a repeated-measures ANOVA, its p-value with the
    Greenhouse-Geisser correction for non-sphericity."""
    n, p = scores.shape[0], contrast.shape[0]
    z = scores @ contrast.T
    if n < 2:
        return FTest(NAN, p, 0, NAN, NAN)
    centred = z - z.mean(axis=0)
    cov = centred.T @ centred / (n - 1)
    trace = float(np.trace(cov))
    effect = n * float(z.mean(axis=0) @ z.mean(axis=0))
    df1, df2 = p, p * (n - 1)
    if trace == 0:
        return FTest(NAN if effect == 0 else math.inf, df1, df2, 1.0 if effect == 0 else 0.0, 1.0)
    f = effect / trace
    epsilon = min(1.0, trace**2 / (p * float(np.trace(cov @ cov))))
    return FTest(f, df1, df2, float(stats.f.sf(f, epsilon * df1, epsilon * df2)), epsilon)
