"""Power of the paired comparisons: what a design can detect, and what it takes to detect more.

A paired t-test of a mean difference with standard error ``se`` on ``df`` degrees of
freedom rejects at two-sided level ``alpha`` with the probability the noncentral t
distribution gives (noncentrality ``delta / se``). The minimum detectable effect (MDE) is
the ``delta`` it finds with probability ``target`` (0.8). Two one-sided tests (TOST) show
equivalence within ``+-margin`` when both reject at ``alpha``; their power is computed the
same way, each side by its noncentral t (the usual approximation; exact with a known SD,
checked by simulation in tests/tracking/test_power.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import optimize, stats

NAN = math.nan
POWER = 0.8
#: the most test units a search for a sample size tries
MAX_UNITS = 100_000


def power(delta: float, se: float, df: float, alpha: float) -> float:
    """Probability that a two-sided t-test at ``alpha`` rejects when the truth is ``delta``."""
    if not se > 0 or df < 1:
        return NAN
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = abs(delta) / se  # symmetric in delta; upper tails only (scipy's far lower
    return _upper(critical, df, shift) + _upper(critical, df, -shift)  # tail can be NaN)


def tost_power(margin: float, se: float, df: float, alpha: float, delta: float = 0.0) -> float:
    """Probability that two one-sided tests at ``alpha`` show ``|diff| < margin`` when the
    truth is ``delta``."""
    if not se > 0 or df < 1:
        return NAN
    critical = stats.t.ppf(1 - alpha, df)
    above = _upper(critical, df, (delta + margin) / se)
    below = _upper(critical, df, (margin - delta) / se)  # P(T < -c) at -shift, by symmetry
    return max(0.0, above + below - 1.0)


def _upper(critical: float, df: float, shift: float) -> float:
    """P(T > critical) for the noncentral t; 0 where scipy underflows to NaN."""
    value = float(stats.nct.sf(critical, df, shift))
    return 0.0 if math.isnan(value) else value


def _solve(probability: Callable[[float], float], scale: float, target: float) -> float:
    """The smallest positive x with ``probability(x) >= target`` (increasing in x)."""
    high = scale
    while probability(high) < target:
        high *= 2
        if high > 1e6 * scale:
            return NAN
    return float(optimize.brentq(lambda x: probability(x) - target, 0.0, high, xtol=1e-10))


def mde(se: float, df: float, alpha: float, target: float = POWER) -> float:
    """The smallest difference a two-sided test at ``alpha`` finds with probability
    ``target``, given the standard error and degrees of freedom of the design."""
    if not se > 0 or df < 1:
        return NAN
    return _solve(lambda d: power(d, se, df, alpha), se, target)


def equivalence_bound(se: float, df: float, alpha: float, target: float = POWER) -> float:
    """The smallest margin within which TOST at ``alpha`` shows two equal arms equivalent
    with probability ``target``."""
    if not se > 0 or df < 1:
        return NAN
    return _solve(lambda m: tost_power(m, se, df, alpha), se, target)


def units_needed(
    variance: float,
    effect: float,
    alpha: float,
    target: float = POWER,
    equivalence: bool = False,
) -> int | None:
    """How many test units (speakers) a paired design needs for power ``target``: to detect
    a difference of ``effect``, or (``equivalence``) to show two equal arms within
    ``+-effect``. ``variance`` is one unit's paired-difference variance, on units - 1
    degrees of freedom. None: more than MAX_UNITS."""
    if not variance > 0:
        return 2

    def reached(n: int) -> bool:
        se = math.sqrt(variance / n)
        df = n - 1
        chance = tost_power(effect, se, df, alpha) if equivalence else power(effect, se, df, alpha)
        return chance >= target

    high = 2
    while not reached(high):
        high *= 2
        if high > MAX_UNITS:
            return None
    low = max(2, high // 2)
    while low < high:  # power grows with n: the first n that reaches it
        middle = (low + high) // 2
        if reached(middle):
            high = middle
        else:
            low = middle + 1
    return high
