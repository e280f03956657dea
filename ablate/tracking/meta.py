"""Combining one comparison measured on several corpora (or studies): meta-analysis of the
per-corpus paired differences.

Each corpus gives a mean paired difference ``y_i`` with its squared standard error
``v_i`` (on ``df_i`` degrees of freedom). Two combinations answer two questions:

* **Random effects** (:func:`random_effects`): the effect in a corpus like these, which
  may differ from corpus to corpus by ``tau^2``. ``tau^2`` by restricted maximum
  likelihood (REML); the interval and test by Hartung-Knapp(-Sidik-Jonkman) on k - 1
  degrees of freedom, which with few corpora keeps its level where the normal interval
  does not, in the modified form whose variance never falls below the usual one
  (``max(1, q)``; with two corpora that agree closely, plain Hartung-Knapp can be far too
  narrow). With two or three corpora this interval is honestly wide.
* **Common effect** (:func:`common_effect`): the average effect over the speakers of these
  corpora, inverse-variance weighted, its degrees of freedom by Welch-Satterthwaite from
  the corpora's own (so 8 speakers do not count as a known variance).

Heterogeneity: Cochran's ``Q`` (on k - 1 degrees of freedom) with its p-value and
Higgins' ``I^2 = max(0, (Q - (k - 1)) / Q)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

NAN = math.nan
LEVEL = 0.95


@dataclass(frozen=True)
class Combined:
    """A combined effect with its 95% interval, p-value, standard error and degrees of
    freedom, and the heterogeneity between the ``k`` corpora."""

    estimate: float
    low: float
    high: float
    p: float
    se: float
    df: float
    k: int
    tau2: float = NAN
    i2: float = NAN
    q: float = NAN
    q_p: float = NAN


def _heterogeneity(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Cochran's Q, its p-value and I^2 (common-effect weights)."""
    w = 1 / v
    mean = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mean) ** 2))
    k = len(y)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    return q, float(stats.chi2.sf(q, k - 1)), i2


def reml_tau2(y: np.ndarray, v: np.ndarray, tolerance: float = 1e-10) -> float:
    """The between-corpus variance by REML (Fisher scoring, truncated at 0)."""
    w = 1 / v
    mean = np.sum(w * y) / np.sum(w)
    tau2 = max(0.0, float(np.var(y, ddof=1) - np.mean(v))) if len(y) > 1 else 0.0
    for _ in range(200):
        w = 1 / (v + tau2)
        mean = np.sum(w * y) / np.sum(w)
        step = np.sum(w**2 * ((y - mean) ** 2 - v)) / np.sum(w**2) + 1 / np.sum(w) - tau2
        new = max(0.0, float(tau2 + step))
        if abs(new - tau2) < tolerance:
            return new
        tau2 = new
    return tau2


def _interval(estimate: float, se: float, df: float, k: int, **extra: float) -> Combined:
    if not se > 0 or not df > 0:
        return Combined(estimate, NAN, NAN, NAN, se, df, k, **extra)
    half = float(special.stdtrit(df, (1 + LEVEL) / 2)) * se
    p = float(2 * special.stdtr(df, -abs(estimate / se)))
    return Combined(estimate, estimate - half, estimate + half, p, se, df, k, **extra)


def _usable(effects: Sequence[float], variances: Sequence[float]) -> bool:
    return len(effects) >= 2 and all(v > 0 and math.isfinite(v) for v in variances)


def random_effects(effects: Sequence[float], variances: Sequence[float]) -> Combined:
    """REML random-effects estimate with the modified Hartung-Knapp interval (module
    docstring); NaN where fewer than two corpora have a usable variance."""
    k = len(effects)
    if not _usable(effects, variances):
        return Combined(NAN, NAN, NAN, NAN, NAN, 0, k)
    y, v = np.asarray(effects, float), np.asarray(variances, float)
    tau2 = reml_tau2(y, v)
    w = 1 / (v + tau2)
    estimate = float(np.sum(w * y) / np.sum(w))
    spread = float(np.sum(w * (y - estimate) ** 2) / (k - 1))
    se = math.sqrt(max(1.0, spread) / float(np.sum(w)))
    q, q_p, i2 = _heterogeneity(y, v)
    return _interval(estimate, se, k - 1, k, tau2=tau2, i2=i2, q=q, q_p=q_p)


def common_effect(
    effects: Sequence[float], variances: Sequence[float], dfs: Sequence[float]
) -> Combined:
    """The inverse-variance weighted mean of the corpora's effects, its t-interval on
    Welch-Satterthwaite degrees of freedom."""
    k = len(effects)
    if not _usable(effects, variances):
        return Combined(NAN, NAN, NAN, NAN, NAN, 0, k)
    y, v, d = (np.asarray(x, float) for x in (effects, variances, dfs))
    w = 1 / v
    total = float(np.sum(w))
    estimate = float(np.sum(w * y) / total)
    parts = (w / total) ** 2 * v
    df = float(np.sum(parts) ** 2 / np.sum(parts**2 / d))
    q, q_p, i2 = _heterogeneity(y, v)
    return _interval(estimate, math.sqrt(1 / total), df, k, i2=i2, q=q, q_p=q_p)
