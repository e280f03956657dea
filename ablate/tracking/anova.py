"""Repeated-measures ANOVA over test folds: the F-tests of ``ablate compare --effects``.

Folds are the subjects and the cells of a full grid of factors the conditions. Each main
effect or interaction is tested through orthonormal contrasts, with the Greenhouse-Geisser
correction for unequal variances and correlations between cells (docs/studies.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = math.nan


@dataclass(frozen=True)
class FTest:
    """A repeated-measures F-test; ``p`` uses the Greenhouse-Geisser ``epsilon``."""

    f: float
    df1: int
    df2: int
    p: float
    epsilon: float


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
