"""How big a study must be to resolve a margin: ``ablate plan``.

Every verdict rests on the paired difference of two arms per test fold, its seeds
averaged first. Its variance splits into two parts, estimated from a stored (or pilot)
study by the method of moments:

* the **seed** part: how much the difference of two arms trained with the same seed
  changes from seed to seed on one fold (``sigma_seed^2``, the within-fold variance of the
  per-seed differences, pooled over folds and pairs); averaged over ``S`` seeds it adds
  ``sigma_seed^2 / S``. A seed effect both arms share (a seed that suits the recipe)
  cancels in the difference and is rightly left out; it is not the arms' own spread
  between seeds (``sd_seeds``), which counts it;
* the **speaker** part: what is left of the observed variance of the paired fold
  differences (averaged over the pairs of arms the table compares) once each pair's seed
  part is taken out (``sigma_seed^2 (1/S_a + 1/S_b) / 2`` for arms of ``S_a`` and ``S_b``
  seeds: an arm added to a study after its first seeds has fewer): how much an arm's
  advantage changes from speaker to speaker. No number of seeds removes it; only more
  test speakers (folds) average it down.

A design of ``n`` folds and ``S`` seeds then has a paired-difference standard error of
``sqrt((sigma_speaker^2 + sigma_seed^2 / S) / n)`` on ``n - 1`` degrees of freedom, and
:mod:`.power` gives what it detects (MDE) and how many folds it takes to detect a
difference of the margin, or to show two equal arms equivalent within it, with the
power asked for, at the level of Holm's first step in the table's family. Compute is
trials x folds x seeds x the measured seconds per trial, fold and seed (``train_seconds``).
Folds are test speakers under leave-one-speaker-out; a corpus has only so many.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from ablate.tracking.compare import Analysis
from ablate.tracking.power import POWER, equivalence_bound, mde, units_needed
from ablate.tracking.stats import ALPHA, NAN

#: the seed counts a plan shows, beside the study's own
SEEDS = (1, 2, 3, 5, 10)


@dataclass(frozen=True)
class Components:
    """A study's design and the variance components of its paired fold differences."""

    #: trials (arms other than a distillation teacher, whose cost its students share)
    arms: int
    folds: int
    seeds: int
    family: int
    post_hoc: bool
    #: the observed variance of a paired fold difference (mean over the pairs compared)
    observed: float
    speaker: float
    #: the variance of a per-seed paired difference on one fold (NaN with one seed)
    seed: float
    #: measured wall seconds per trial, fold and seed
    seconds: float
    #: the most seeds an arm has on a fold (``seeds`` is the fewest)
    most_seeds: int = 0

    def variance(self, seeds: int) -> float:
        """A paired fold difference's variance with ``seeds`` seeds per arm."""
        if math.isnan(self.seed):
            return self.observed if seeds == self.seeds else NAN
        return self.speaker + self.seed / seeds


def components(analysis: Analysis) -> Components:
    """The design and variance components of an analysed table (module docstring)."""
    name = analysis.metric.removeprefix("test_")
    arms = [v.arm for v in analysis.verdicts]
    means = {id(a): a.fold_means(name) for a in arms}
    # seeds per arm and fold: the fewest and most in the design, and each pair's own
    counts = {id(a): Counter(f for _, f in a.values[name]) for a in arms}
    per_fold = [counts[id(a)][fold] for a in arms for fold in means[id(a)]]
    seeds = min(per_fold)
    reference = analysis.reference.arm
    pairs = (
        list(combinations(arms, 2))
        if analysis.post_hoc
        else [(reference, a) for a in arms if a is not reference]
    )
    variances, pair_seeds, spread = [], [], []
    for a, b in pairs:
        shared = [f for f in means[id(a)] if f in means[id(b)]]
        if len(shared) > 1:
            variances.append(
                statistics.variance([means[id(b)][f] - means[id(a)][f] for f in shared])
            )
            pair_seeds.append(_seed_share(counts[id(a)], counts[id(b)], shared))
        spread += _seed_spread(a.values[name], b.values[name])
    observed = statistics.fmean(variances) if variances else NAN
    dof = sum(d for d, _ in spread)
    seed = sum(d * v for d, v in spread) / dof if dof else NAN
    # each pair's seed part by its own seeds: arms added to a study later have fewer
    own = [v - seed * share for v, share in zip(variances, pair_seeds, strict=True)]
    speaker = observed if math.isnan(seed) else max(0.0, statistics.fmean(own) if own else NAN)
    trials = [a for a in arms if not a.teacher]
    # a trial run trains every fold once per seed: seconds x runs / its (seed, fold) scores
    costs = [a.seconds * a.runs / len(a.values[name]) for a in trials if a.seconds == a.seconds]
    folds = max(len(m) for m in means.values())
    return Components(
        len(trials),
        folds,
        seeds,
        analysis.family,
        analysis.post_hoc,
        observed,
        speaker,
        seed,
        statistics.fmean(costs) if costs else NAN,
        max(per_fold),
    )


def _seed_share(a: Counter, b: Counter, folds: list[str]) -> float:
    """How much of a per-seed difference's variance a pair's fold difference keeps: each
    arm's seed noise averaged over its seeds, ``(1/S_a + 1/S_b) / 2`` (``1/S`` when both
    have ``S``), with each arm's fewest seeds (``a``, ``b``: seeds per fold) on the shared
    folds."""
    fewest = [min(counts[fold] for fold in folds) for counts in (a, b)]
    return (1 / fewest[0] + 1 / fewest[1]) / 2


def _seed_spread(a: dict, b: dict) -> list[tuple[int, float]]:
    """Per fold with two or more seeds both arms trained: (degrees of freedom, variance of
    the per-seed differences)."""
    by_fold: dict[str, list[float]] = {}
    for (seed, fold), value in b.items():
        if (seed, fold) in a:
            by_fold.setdefault(fold, []).append(value - a[(seed, fold)])
    return [(len(d) - 1, statistics.variance(d)) for d in by_fold.values() if len(d) > 1]


def resolvable(c: Components, power: float = POWER) -> tuple[float, float]:
    """What the study's own design resolves: its MDE and the smallest equivalence margin
    it shows for two equal arms, each with ``power``."""
    se = math.sqrt(c.observed / c.folds) if c.observed == c.observed else NAN
    level = ALPHA / max(1, c.family)
    return mde(se, c.folds - 1, level, power), equivalence_bound(se, c.folds - 1, level, power)


def rows(c: Components, margin: float, power: float = POWER) -> list[dict[str, Any]]:
    """Per seed count: the MDE with the study's folds, the folds it takes to detect a
    difference of ``margin`` and to show equal arms equivalent within it, and the compute
    of a study that resolves both."""
    level = ALPHA / max(1, c.family)
    out = []
    for seeds in sorted({*SEEDS, c.seeds}):
        variance = c.variance(seeds)
        if math.isnan(variance):
            continue
        se = math.sqrt(variance / c.folds)
        detect = units_needed(variance, margin, level, power)
        equal = units_needed(variance, margin, level, power, equivalence=True)
        both = None if detect is None or equal is None else max(detect, equal)
        compute = c.arms * both * seeds * c.seconds if both else NAN
        out.append(
            {
                "seeds": seeds,
                f"mde ({c.folds} folds)": mde(se, c.folds - 1, level, power),
                "folds to detect": _count(detect),
                "folds for equivalence": _count(equal),
                "trials x folds x seeds": f"{c.arms} x {_count(both)} x {seeds}",
                "hours": compute / 3600,
            }
        )
    return out


def _count(n: int | None) -> str:
    return str(n) if n is not None else "> 100000"
