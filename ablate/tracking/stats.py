"""Statistics over test units: intervals, paired comparisons and Holm's correction.

Pure numpy/scipy, no MLflow. The unit of analysis is the test speaker: a model's seeds on
the same speaker share its test utterances, so they are averaged first and every interval
and test below works on those means. A unit is a test fold (one held-out speaker, or a
group of them) or, where a fold's per-speaker scores are recorded, one speaker of a fold.
The speakers of one fold are tested by the same trained models, so their errors are
correlated: ``clusters`` names each unit's fold, and the standard error is then
cluster-robust over folds with folds - 1 degrees of freedom (with one unit per fold it is
the ordinary t-interval). Why each choice is made is in docs/studies.md; the simulations
in tests/tracking/test_calibration.py check the error rates.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from itertools import combinations

from scipy import special

from ablate.intervals import mean_se, t_quantile

ALPHA = 0.05
NAN = math.nan
#: a paired difference whose spread is below this is the same on every unit: not testable
CONSTANT = 1e-12


@dataclass(frozen=True)
class Paired:
    """``other - reference`` over the ``n`` units both have: mean difference, its 95%
    t-interval, the two-sided paired t-test's p-value, its standard error and degrees of
    freedom. ``se == 0``: the same difference on every unit, which no test can judge."""

    diff: float
    low: float
    high: float
    p: float
    n: int
    se: float = NAN
    df: float = 0


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


def paired(
    reference: Mapping[Hashable, float],
    other: Mapping[Hashable, float],
    clusters: Mapping[Hashable, Hashable] | None = None,
) -> Paired:
    """``other - reference`` paired over the units both have (a paired t-test is a
    one-sample t-test of those differences, so the interval and p always agree).

    A difference that is the same on every unit has no spread to test it against: its p
    is NaN (not testable), never 0."""
    shared = [unit for unit in reference if unit in other]
    diffs = [other[unit] - reference[unit] for unit in shared]
    groups = [clusters[unit] for unit in shared] if clusters is not None else None
    mean, sd, se, df = mean_se(diffs, groups)
    n = len(diffs)
    if df < 1:
        return Paired(mean, NAN, NAN, NAN, n, NAN, df)
    if sd <= CONSTANT:
        return Paired(mean, mean, mean, NAN, n, 0.0, df)
    half = t_quantile(df) * se
    p = float(2 * special.stdtr(df, -abs(mean / se)))
    return Paired(mean, mean - half, mean + half, p, n, se, df)


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


def pairwise(
    samples: Mapping[Hashable, Mapping[Hashable, float]],
    clusters: Mapping[Hashable, Hashable] | None = None,
) -> dict[tuple[Hashable, Hashable], Paired]:
    """Every pair of groups in their order, ``(a, b)`` holding ``b - a``."""
    return {(a, b): paired(samples[a], samples[b], clusters) for a, b in combinations(samples, 2)}
