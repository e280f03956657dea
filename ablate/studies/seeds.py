"""A trial's seed loop and its score: what Optuna optimises, computed from the results.

Nothing here needs a tracking store: a trial is trained once per seed, its metrics are
averaged over seeds (the summary values) and its objective value is read from those; the
runner then hands both to the tracker.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ablate.registry import Registry
from ablate.training.engine import TrialFailed

#: ``(seed, result)`` pairs: a trial trains once per seed
SeedResults = list[tuple[int, Any]]


def run_seeds(
    config: DictConfig,
    registry: Registry,
    seeds: Sequence[int],
    corpus: Any,
    reporter: Any,
    teacher_cache: Path,
) -> SeedResults:
    """Train and test ``config`` once per seed (``train.seed``); ``reporter.seed`` tells
    the reporter which one is running."""
    from ablate.training.trial import run_trial

    results = []
    for seed in seeds:
        seeded = config.copy()
        seeded.train.seed = seed
        reporter.seed = seed
        result = run_trial(
            seeded, registry, corpus=corpus, reporter=reporter, teacher_cache=teacher_cache
        )
        results.append((seed, result))
    return results


def aggregate(results: SeedResults) -> dict[str, float]:
    """The trial's metrics: each summary value averaged over seeds, plus validation scores:
    the validation speakers' UA and WA of the weights each fold ends with (the best
    validation epoch's under ``train.select=best_val``, the last epoch's under ``last``),
    averaged over folds and seeds."""
    metrics: dict[str, float] = {}
    for key in results[0][1].summary:
        metrics[key] = statistics.fmean(r.summary[key] for _, r in results)
    for name in ("uar", "war"):
        values = [f.val_metrics[name] for _, r in results for f in r.folds if f.val_metrics]
        if values:
            metrics[f"val_{name}_mean"] = statistics.fmean(values)
    first = results[0][1]
    metrics["params"] = float(first.params)
    metrics["gflops"] = float(first.gflops)
    metrics["seconds"] = sum(r.seconds for _, r in results)
    metrics["compute_seconds"] = sum(r.compute_seconds for _, r in results)
    metrics["eval_seconds"] = sum(r.eval_seconds for _, r in results)
    if first.teacher_params:
        metrics["teacher_params"] = float(first.teacher_params)
        metrics["teacher_gflops"] = float(first.teacher_gflops)
        metrics["teacher_seconds"] = sum(f.teacher_seconds for _, r in results for f in r.folds)
    return metrics


def score(results: SeedResults, metric: str) -> tuple[dict[str, float], float]:
    """The trial's metrics and its objective value, ``metrics[metric]``; a missing or
    non-finite value (e.g. a diverged training) fails the trial."""
    metrics = aggregate(results)
    value = metrics.get(metric, math.nan)
    if not math.isfinite(value):
        raise TrialFailed(f"{metric} is {value}")
    return metrics, value
