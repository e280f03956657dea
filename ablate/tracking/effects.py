"""The effect of each design choice in a study that sweeps a grid of two or more factors.

A factor is a swept key present in every arm with two or more values. A plugin parameter
swept only for the plugins that have it (``model.patching_args.size``, square patches only)
is not a factor of its own: it is part of its plugin's level (``square (size=16)``).

Per factor, each level's score on a fold is the mean over the other factors' levels on
that fold (a marginal mean over the full grid), so every level is read over the same
combinations. Levels are compared with the factor's best level, paired over folds; the
best level is picked after looking, so Holm runs over every pair of levels of every factor.
Main effects and two-way interactions are repeated-measures ANOVA F-tests over folds with
the Greenhouse-Geisser correction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ablate.errors import AblateError
from ablate.intervals import Interval, t_interval
from ablate.tracking.arms import Arm
from ablate.tracking.mlflow_store import LEAK
from ablate.tracking.stats import (
    ALPHA,
    FTest,
    Paired,
    factorial_contrasts,
    holm,
    paired,
    pairwise,
    rm_test,
)
from ablate.tracking.tables import PValue, Range


@dataclass
class Level:
    """One level of a factor: its marginal mean over folds and its comparison with the
    factor's best level (``None`` for the best)."""

    factor: str
    level: str
    interval: Interval
    comparison: Paired | None
    p_holm: float


@dataclass
class Effects:
    """Per factor its levels (best first) and main-effect test; per pair of factors the
    interaction test and its Holm-adjusted p; ``cells`` the mean of each grid cell."""

    study: str
    metric: str
    factors: dict[str, list[str]]
    levels: list[Level]
    main: dict[str, FTest]
    interactions: list[tuple[str, str, FTest, float]]
    cells: dict[tuple[str, ...], float]
    folds: int
    family: int
    speaker_independent: bool


class TooFewFactors(AblateError):
    """The study sweeps fewer than two factors: its arms table already says it all."""


def short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def effects(arms: list[Arm], metric: str = "test_uar") -> Effects:
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
    shape = (len(folds), *(len(levels) for levels in order))
    cube = scores.reshape(shape)
    keys = list(factors)
    samples, family, pairs = {}, {}, {}
    for axis, key in enumerate(keys, 1):
        others = tuple(a for a in range(1, cube.ndim) if a != axis)
        marginal = cube.mean(axis=others) if others else cube
        samples[key] = {
            level: dict(zip(folds, marginal[:, i], strict=True))
            for i, level in enumerate(factors[key])
        }
        for (a, b), compared in pairwise(samples[key]).items():
            pairs[(key, a, b)] = compared
            family[(key, a, b)] = compared.p
    adjusted = holm(family)
    levels = []
    for key in keys:
        intervals = {lv: t_interval(list(v.values())) for lv, v in samples[key].items()}
        ranked = sorted(intervals, key=lambda lv: -intervals[lv].mean)
        best = ranked[0]
        for level in ranked:
            if level == best:
                levels.append(Level(key, level, intervals[level], None, math.nan))
                continue
            pair = (key, best, level) if (key, best, level) in adjusted else (key, level, best)
            compared = paired(samples[key][best], samples[key][level])
            levels.append(Level(key, level, intervals[level], compared, adjusted[pair]))
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
        main,
        interactions,
        {c: float(np.mean([grid[c][f] for f in folds])) for c in cells},
        len(folds),
        sum(not math.isnan(p) for p in family.values()),
        all(a.speaker_independent for a in arms),
    )


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


def rows(result: Effects) -> list[dict[str, Any]]:
    """One row per level of each factor, the factor's best level first."""
    metric = result.metric
    mark = "yes" if result.speaker_independent else f"NO ({LEAK})"
    out = []
    for level in result.levels:
        compared = level.comparison
        row: dict[str, Any] = {
            "factor": short(level.factor),
            "level": level.level,
            "speaker_independent": mark,
            metric: level.interval.mean,
            "ci95": Range(level.interval.low, level.interval.high),
            "folds": level.interval.n,
        }
        if compared is None:
            row |= dict.fromkeys(("diff", "diff_ci95", "p", "p_holm"), None)
            row["significant"] = "best level"
        else:
            row |= {
                "diff": compared.diff,
                "diff_ci95": Range(compared.low, compared.high),
                "p": PValue(compared.p),
                "p_holm": PValue(level.p_holm),
                "significant": "yes" if level.p_holm <= ALPHA else "no",
            }
        out.append(row)
    return out


def f_text(test: FTest) -> str:
    """``F(df1, df2) = f, Greenhouse-Geisser ε = e, p = p``."""
    p = PValue(test.p)
    shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    gg = f"Greenhouse-Geisser ε = {test.epsilon:.2f}"
    return f"F({test.df1}, {test.df2}) = {test.f:.2f}, {gg}, {shown}"


def summary(result: Effects) -> list[str]:
    """The main-effect and interaction lines under the effects table."""
    lines = [f"main effect of {short(k)}: {f_text(t)}" for k, t in result.main.items()]
    for a, b, test, p_holm in result.interactions:
        verdict = "depends" if p_holm <= ALPHA else "does not measurably depend"
        corrected = f" (Holm over {len(result.interactions)}: {PValue(p_holm):.3f})"
        holm_note = corrected if len(result.interactions) > 1 else ""
        lines.append(
            f"interaction {short(a)} x {short(b)}: {f_text(test)}{holm_note}: the effect of "
            f"{short(a)} {verdict} on {short(b)}"
        )
    return lines


def caption(result: Effects) -> str:
    return (
        f"{result.study}, {result.metric}: each level's mean over the other factors' levels, "
        f"computed per test fold, over {result.folds} folds, with its 95% t-interval; diff = "
        f"level - the factor's best level, paired over the folds, with its 95% t-interval; p = "
        f"two-sided paired t-test; the best level is picked after looking, so Holm runs over "
        f"all {result.family} pairs of levels; significant = Holm-adjusted p <= {ALPHA}. "
        f"Main effects and interactions: repeated-measures ANOVA over folds."
    )
