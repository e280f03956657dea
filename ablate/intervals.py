"""The 95% t-interval of a mean: one function for every interval ablate reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

LEVEL = 0.95
NAN = math.nan


@dataclass(frozen=True)
class Interval:
    """Mean over ``n`` values (fold means), their standard deviation and the 95% t-interval."""

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @property
    def half(self) -> float:
        """The half-width (NaN with fewer than two values)."""
        return (self.high - self.low) / 2


def t_interval(samples: Sequence[float]) -> Interval:
    """Mean and 95% t-interval of independent samples (fold means)."""
    n = len(samples)
    if n == 0:
        return Interval(NAN, NAN, NAN, NAN, 0)
    mean = math.fsum(samples) / n
    if n == 1:
        return Interval(mean, NAN, NAN, NAN, 1)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in samples) / (n - 1))
    half = float(special.stdtrit(n - 1, (1 + LEVEL) / 2)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, sd, n)
