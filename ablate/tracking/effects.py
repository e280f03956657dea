"""The effect of each design choice in a study that sweeps a grid of two or more factors.

A factor is a swept key present in every arm with two or more values. A plugin parameter
swept only for the plugins that have it (``model.patching_args.size``, square patches only)
is not a factor of its own: it is part of its plugin's level (``square (size=16)``).

Per factor, each level's score on a fold is the mean over the other factors' levels on
that fold (a marginal mean over the full grid), so every level is read over the same
combinations; its interval stays inside [0, 1]. Effect sizes, each with its 95% interval,
p, verdict (better, worse, equivalent within the margin, inconclusive) and minimum
detectable effect: each level against its factor's best level (the main effects), and
each interaction contrast of two factors, how much a level's gap to its factor's best
level changes between the other factor's best level and another of its levels
(a difference of differences, per fold). The best levels are picked after looking, so
the comparisons are judged, with Holm's correction, as one family with every pair of
levels of every factor and every interaction contrast: corrected across all the factors
shown. The omnibus main effects and two-way interactions are repeated-measures ANOVA
F-tests over folds with the Greenhouse-Geisser correction.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ablate.errors import AblateError
from ablate.intervals import Interval, score_interval
from ablate.tracking.anova import FTest, factorial_contrasts, rm_test
from ablate.tracking.arms import Arm
from ablate.tracking.stats import Paired, holm, paired, pairwise
from ablate.tracking.verdicts import Comparison, judge


@dataclass
class Level:
    """One level of a factor: its marginal mean over folds and its comparison with the
    factor's best level (``None`` for the best)."""

    factor: str
    level: str
    interval: Interval
    comparison: Comparison | None


@dataclass
class Contrast:
    """An interaction contrast: (``level`` - the first factor's best level) at ``at``
    minus the same gap at the second factor's best level."""

    first: str
    second: str
    level: str
    best: str
    at: str
    at_best: str
    comparison: Comparison


@dataclass
class Effects:
    """Per factor its levels (best first) and main-effect test; per pair of factors its
    interaction contrasts, test and Holm-adjusted p; ``cells`` the mean of each cell."""

    study: str
    metric: str
    factors: dict[str, list[str]]
    levels: list[Level]
    contrasts: list[Contrast]
    main: dict[str, FTest]
    interactions: list[tuple[str, str, FTest, float]]
    cells: dict[tuple[str, ...], float]
    folds: int
    family: int
    speaker_independent: bool
    margin: float | None = None


class TooFewFactors(AblateError):
    """The study sweeps fewer than two factors: its arms table already says it all."""


def short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def effects(arms: list[Arm], metric: str = "test_uar", margin: float | None = None) -> Effects:
    """The effects of a study's arms (one study key, no teacher arm)."""
    study = arms[0].study
    name = metric.removeprefix("test_")
    factors, cell_of = _factors([a.swept for a in arms], study)
    grid: dict[tuple[str, ...], dict[str, float]] = {}
    for arm in arms:
        cell = cell_of(arm.swept)
        if cell in grid:
            same = ", ".join(f"{short(k)}={v}" for k, v in zip(factors, cell, strict=True))
            raise AblateError(f"--effects: {study} has two arms at {same}")
        grid[cell] = arm.fold_means(name)
    order = list(factors.values())
    for cell in itertools.product(*order):
        if cell not in grid:
            missing = ", ".join(f"{short(k)}={v}" for k, v in zip(factors, cell, strict=True))
            raise AblateError(f"--effects: {study} is not a full grid; no arm has {missing}")
    folds = [f for f in grid[next(iter(grid))] if all(f in v for v in grid.values())]
    if len(folds) < 2:
        raise AblateError(f"--effects: {study} needs 2+ test folds shared by every arm")
    cells = list(itertools.product(*order))
    scores = np.array([[grid[c][f] for c in cells] for f in folds])
    cube = scores.reshape((len(folds), *(len(levels) for levels in order)))
    keys = list(factors)
    family: dict[Hashable, Paired] = {}
    intervals, ranked = {}, {}
    for axis, key in enumerate(keys, 1):
        marginal = _marginal(cube, [axis])
        samples = {
            lv: dict(zip(folds, marginal[:, i], strict=True)) for i, lv in enumerate(factors[key])
        }
        intervals[key] = {lv: score_interval(list(v.values())) for lv, v in samples.items()}
        ranked[key] = sorted(samples, key=lambda lv: -intervals[key][lv].mean)
        ordered = {lv: samples[lv] for lv in ranked[key]}
        family.update({(key, a, b): c for (a, b), c in pairwise(ordered).items()})
    for i, j in itertools.combinations(range(len(keys)), 2):
        family.update(_interaction(cube, folds, keys, factors, ranked, i, j))
    judged, tested = judge(family, margin)
    levels = [
        Level(key, lv, intervals[key][lv], judged.get((key, ranked[key][0], lv)))
        for key in keys
        for lv in ranked[key]
    ]
    contrasts = [
        Contrast(a, b, lv, ranked[a][0], at, ranked[b][0], judged[(a, b, lv, at)])
        for (a, b, lv, at) in (k for k in family if len(k) == 4)
    ]
    counts = [len(v) for v in order]
    main = {k: rm_test(scores, factorial_contrasts(counts, [i])) for i, k in enumerate(keys)}
    tests = {
        (keys[i], keys[j]): rm_test(scores, factorial_contrasts(counts, [i, j]))
        for i, j in itertools.combinations(range(len(keys)), 2)
    }
    interaction_p = holm({pair: test.p for pair, test in tests.items()})
    interactions = [(a, b, test, interaction_p[(a, b)]) for (a, b), test in tests.items()]
    return Effects(
        study,
        metric,
        factors,
        levels,
        contrasts,
        main,
        interactions,
        {c: float(np.mean([grid[c][f] for f in folds])) for c in cells},
        len(folds),
        tested,
        all(a.speaker_independent for a in arms),
        margin,
    )


def _marginal(cube: np.ndarray, axes: list[int]) -> np.ndarray:
    """The cube's mean over every factor axis but ``axes`` (folds stay the first axis)."""
    others = tuple(a for a in range(1, cube.ndim) if a not in axes)
    return cube.mean(axis=others) if others else cube


def _interaction(cube, folds, keys, factors, ranked, i, j) -> dict[Hashable, Paired]:
    """The interaction contrasts of factors ``i`` and ``j`` against their best levels,
    each a per-fold difference of differences."""
    a, b = keys[i], keys[j]
    table = _marginal(cube, [i + 1, j + 1])
    index_a = {lv: n for n, lv in enumerate(factors[a])}
    index_b = {lv: n for n, lv in enumerate(factors[b])}
    best_a, best_b = index_a[ranked[a][0]], index_b[ranked[b][0]]
    zero = dict.fromkeys(folds, 0.0)
    out: dict[Hashable, Paired] = {}
    for lv, at in itertools.product(ranked[a][1:], ranked[b][1:]):
        x, y = index_a[lv], index_b[at]
        gap = table[:, x, y] - table[:, best_a, y] - table[:, x, best_b] + table[:, best_a, best_b]
        out[(a, b, lv, at)] = paired(zero, dict(zip(folds, gap, strict=True)))
    return out


def cell_means(result: Effects, first: str, second: str) -> dict[str, list[float]]:
    """Per level of ``second``, the mean of each level of ``first`` over the other factors
    and the folds: the lines of an interaction plot."""
    keys = list(result.factors)
    i, j = keys.index(first), keys.index(second)
    lines = {}
    for b in result.factors[second]:
        lines[b] = [
            float(np.mean([m for c, m in result.cells.items() if c[i] == a and c[j] == b]))
            for a in result.factors[first]
        ]
    return lines


def _factors(swept: list[dict[str, Any]], study: str) -> tuple[dict[str, list[str]], Any]:
    """The factors (key -> level labels) and a function from an arm's swept values to
    its grid cell. Keys present in only some arms must be a swept plugin's parameters."""
    everywhere = set.intersection(*(set(s) for s in swept))
    somewhere = set.union(*(set(s) for s in swept))
    nested: dict[str, list[str]] = {}
    for key in sorted(somewhere - everywhere):
        owner = next((f for f in everywhere if key.startswith(f"{f}_args.")), None)
        if owner is None:
            raise AblateError(
                f"--effects: {study} sweeps {key} in some arms only, and no swept plugin "
                f"key owns it; effects need a grid"
            )
        nested.setdefault(owner, []).append(key)

    def level(values: dict[str, Any], key: str) -> str:
        inner = [f"{short(k)}={values[k]}" for k in nested.get(key, []) if k in values]
        return f"{values[key]} ({', '.join(inner)})" if inner else str(values[key])

    keys = [key for key in swept[0] if key in everywhere]
    levels = {key: list(dict.fromkeys(level(s, key) for s in swept)) for key in keys}
    factors = {key: values for key, values in levels.items() if len(values) > 1}
    if len(factors) < 2:
        raise TooFewFactors(
            f"--effects: {study} sweeps {len(factors)} factor(s); effects need two or more "
            "(its arms table already compares the levels of one)"
        )
    return factors, lambda values: tuple(level(values, key) for key in factors)
