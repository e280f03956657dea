"""Arms of a study, read back from the MLflow store and ranked, with paired significance.

An arm is one combination of swept values (the child runs' ``ablate.swept`` tag). Its score
is the mean +- std of the per-fold test metric over every fold and seed; the difference to
the best arm is tested with a two-sided paired t-test over the (seed, fold) pairs both arms
have (``scipy.stats.ttest_rel``, alpha 0.05).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store

ALPHA = 0.05
FOLD_KEY = re.compile(r"^seed(\d+)/fold(\d+)/test_(\w+)$")


@dataclass
class Arm:
    name: str
    values: dict[tuple[int, int], float] = field(default_factory=dict)
    params: float = math.nan
    gflops: float = math.nan
    seconds: float = math.nan
    runs: int = 0
    diff: float = 0.0
    p_value: float = math.nan

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values()) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values.values()) if len(self.values) > 1 else 0.0

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_value) and self.p_value < ALPHA


def find_parent(store: Store, target: str) -> Any:
    """The parent run of a study key, or the newest study run of an experiment name."""
    experiments = store.client.search_experiments()
    parents = store.parents([e.experiment_id for e in experiments])
    by_key = [r for r in parents if r.data.tags.get(STUDY_KEY_TAG) == target]
    if by_key:
        return by_key[0]
    named = [e.experiment_id for e in experiments if e.name == target]
    in_experiment = [r for r in parents if r.info.experiment_id in named]
    if in_experiment:
        return in_experiment[0]
    known = sorted({e.name for e in experiments if e.name != "Default"})
    raise AblateError(
        f"no study '{target}' in {store.uri}; experiments: {', '.join(known) or 'none'}"
    )


def arms(store: Store, target: str, metric: str = "test_uar") -> tuple[Any, list[Arm]]:
    """The study's parent run and its arms, best first."""
    name = metric.removeprefix("test_")
    parent = find_parent(store, target)
    grouped: dict[str, Arm] = {}
    samples: dict[str, dict[tuple[int, int], list[float]]] = {}
    for run in store.children(parent.info.run_id, parent.info.experiment_id):
        if run.info.status != "FINISHED":
            continue
        label = run.data.tags.get("ablate.swept", run.info.run_name)
        arm = grouped.setdefault(label, Arm(_arm_name(label)))
        arm.runs += 1
        for key, value in run.data.metrics.items():
            match = FOLD_KEY.match(key)
            if match and match.group(3) == name:
                pair = (int(match.group(1)), int(match.group(2)))
                samples.setdefault(label, {}).setdefault(pair, []).append(value)
        for attr in ("params", "gflops", "seconds"):
            if attr in run.data.metrics:
                setattr(arm, attr, run.data.metrics[attr])
    for label, arm in grouped.items():
        arm.values = {k: statistics.fmean(v) for k, v in samples.get(label, {}).items()}
    ranked = sorted((a for a in grouped.values() if a.values), key=lambda a: -a.mean)
    if not ranked:
        raise AblateError(f"study '{target}': no finished trial logged metric '{metric}'")
    _test_against_best(ranked)
    return parent, ranked


def _arm_name(label: str) -> str:
    import json

    try:
        swept = json.loads(label)
    except ValueError:
        return label
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in swept.items()) or label


def _test_against_best(ranked: list[Arm]) -> None:
    from scipy import stats

    best = ranked[0]
    for arm in ranked[1:]:
        arm.diff = arm.mean - best.mean
        pairs = sorted(set(arm.values) & set(best.values))
        a = [best.values[k] for k in pairs]
        b = [arm.values[k] for k in pairs]
        differences = [x - y for x, y in zip(a, b, strict=True)]
        if len(pairs) < 2 or statistics.pstdev(differences) == 0:
            arm.p_value = math.nan if len(pairs) < 2 or differences[0] == 0 else 0.0
            continue
        arm.p_value = float(stats.ttest_rel(a, b).pvalue)


def rows(ranked: list[Arm], metric: str) -> list[dict[str, Any]]:
    """Plain rows for a table, CSV or markdown."""
    out = []
    for rank, arm in enumerate(ranked, 1):
        out.append(
            {
                "rank": rank,
                "arm": arm.name,
                f"{metric}_mean": arm.mean,
                f"{metric}_std": arm.std,
                "n": len(arm.values),
                "diff_to_best": arm.diff,
                "p_value": arm.p_value,
                "significant": "yes" if arm.significant else ("-" if rank == 1 else "no"),
                "params": arm.params,
                "gflops": arm.gflops,
                "train_seconds": arm.seconds,
            }
        )
    return out
