"""Intervals of a mean: the t-interval (cluster-robust where units share a fold) and its
bounded twin for scores in [0, 1]; one place for every interval ablate reports.

The statistical choices are explained in docs/studies.md; the simulations in
tests/tracking/test_calibration.py check their coverage.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from scipy import special

LEVEL = 0.95
NAN = math.nan


@dataclass(frozen=True)
class Interval:
    """Mean over ``n`` units, their standard deviation and the 95% interval."""

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @property
    def half(self) -> float:
        """The half-width of a symmetric interval (NaN without one)."""
        return (self.high - self.low) / 2


def mean_se(
    samples: Sequence[float], clusters: Sequence[Hashable] | None = None
) -> tuple[float, float, float, int]:
    """Mean, standard deviation, standard error of the mean and its degrees of freedom.

    Without ``clusters`` (every unit its own fold): ``sd / sqrt(n)`` on ``n - 1``. With
    them: the cluster-robust (CR1) standard error over the ``G`` clusters, on ``G - 1``
    degrees of freedom, which allows any correlation between units of one cluster."""
    n = len(samples)
    if n == 0:
        return NAN, NAN, NAN, 0
    mean = math.fsum(samples) / n
    if n == 1:
        return mean, NAN, NAN, 0
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in samples) / (n - 1))
    if clusters is None or len(set(clusters)) == n:
        return mean, sd, sd / math.sqrt(n), n - 1
    sums: dict[Hashable, float] = {}
    for value, cluster in zip(samples, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + value - mean
    g = len(sums)
    if g < 2:
        return mean, sd, NAN, 0
    variance = g / (g - 1) * math.fsum(s * s for s in sums.values()) / n**2
    return mean, sd, math.sqrt(variance), g - 1


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    return float(special.stdtrit(df, (1 + LEVEL) / 2))


def t_interval(samples: Sequence[float], clusters: Sequence[Hashable] | None = None) -> Interval:
    """Mean and 95% t-interval of independent samples (or of clustered units)."""
    mean, sd, se, df = mean_se(samples, clusters)
    if df < 1:
        return Interval(mean, NAN, NAN, sd, len(samples))
    half = t_quantile(df) * se
    return Interval(mean, mean - half, mean + half, sd, len(samples))


def score_interval(
    samples: Sequence[float], clusters: Sequence[Hashable] | None = None
) -> Interval:
    """Mean and 95% interval of scores in [0, 1] (UA, WA, F1), always inside [0, 1].

    The t-interval built on the logit scale around the mean (delta method: the logit's
    standard error is ``se / (mean (1 - mean))``) and mapped back: in the middle of the
    range it is the t-interval, near 0 or 1 it is asymmetric instead of crossing the
    bound. Its coverage is checked by simulation (tests/tracking/test_calibration.py)."""
    mean, sd, se, df = mean_se(samples, clusters)
    if df < 1:
        return Interval(mean, NAN, NAN, sd, len(samples))
    if se == 0 or mean <= 0 or mean >= 1:
        return Interval(mean, mean, mean, sd, len(samples))
    centre = float(special.logit(mean))
    half = t_quantile(df) * se / (mean * (1 - mean))
    low, high = (float(special.expit(centre + sign * half)) for sign in (-1, 1))
    return Interval(mean, low, high, sd, len(samples))
