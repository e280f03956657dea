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
FOLD_KEY = re.compile(r"^seed(\d+)/fold(\d+)/(teacher_)?test_(\w+)$")
#: the arm of a distillation study's teacher, read from every trial's teacher scores
TEACHER = "teacher"


METRICS = ("uar", "war", "f1")


@dataclass
class Arm:
    """One combination of swept values; ``values`` holds the ranking metric per
    (seed, fold), ``others`` every reported metric the same way."""

    name: str
    values: dict[tuple[int, int], float] = field(default_factory=dict)
    others: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
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
    def ci95(self) -> float:
        """Half-width of the 95% t-interval of the mean over (seed, fold) values."""
        from scipy import stats

        n = len(self.values)
        if n < 2:
            return math.nan
        return float(stats.t.ppf(0.975, n - 1) * self.std / math.sqrt(n))

    def summary(self, metric: str) -> tuple[float, float]:
        """Mean and std of ``metric`` (uar, war, f1) over (seed, fold)."""
        values = list(self.others.get(metric, {}).values())
        if not values:
            return math.nan, math.nan
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

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


def arms(store: Store, targets: str | list[str], metric: str = "test_uar") -> tuple[Any, list[Arm]]:
    """The first study's parent run and the arms of every study in ``targets``, best
    first. With several studies (e.g. a reference arm run as its own study on the same
    data and protocol), each arm's name starts with its study's name."""
    name = metric.removeprefix("test_")
    targets = [targets] if isinstance(targets, str) else list(targets)
    parents = [find_parent(store, target) for target in targets]
    grouped: dict[str, Arm] = {}
    samples: dict[str, dict[str, dict[tuple[int, int], list[float]]]] = {}
    for parent in parents:
        prefix = f"{parent.data.tags.get('ablate.study', parent.info.run_name)}: "
        shown = prefix if len(parents) > 1 else ""  # arm names carry their study when merged
        teacher_label = prefix + TEACHER
        for run in store.children(parent.info.run_id, parent.info.experiment_id):
            if run.info.status != "FINISHED":
                continue
            swept = run.data.tags.get("ablate.swept", run.info.run_name)
            label = shown + swept
            arm = grouped.setdefault(label, Arm(shown + _arm_name(swept)))
            arm.runs += 1
            for key, value in run.data.metrics.items():
                match = FOLD_KEY.match(key)
                if match and match.group(4) in METRICS:
                    pair = (int(match.group(1)), int(match.group(2)))
                    target = teacher_label if match.group(3) else label
                    per_metric = samples.setdefault(target, {}).setdefault(match.group(4), {})
                    per_metric.setdefault(pair, []).append(value)
            _costs(arm, run.data.metrics, "")
            if "teacher_params" in run.data.metrics:
                teacher = grouped.setdefault(teacher_label, Arm(shown + TEACHER))
                teacher.runs += 1
                _costs(teacher, run.data.metrics, "teacher_")
    for label, arm in grouped.items():
        for metric_name, pairs in samples.get(label, {}).items():
            arm.others[metric_name] = {k: statistics.fmean(v) for k, v in pairs.items()}
        arm.values = arm.others.get(name, {})
    ranked = sorted((a for a in grouped.values() if a.values), key=lambda a: -a.mean)
    if not ranked:
        raise AblateError(f"study '{', '.join(targets)}': no finished trial logged '{metric}'")
    _test_against_best(ranked)
    return parents[0], ranked


def _costs(arm: Arm, metrics: dict[str, float], prefix: str) -> None:
    for attr in ("params", "gflops", "seconds"):
        if prefix + attr in metrics:
            setattr(arm, attr, metrics[prefix + attr])


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
    """Plain rows for a table, CSV or markdown: the ranking metric with its 95% CI, then
    UA, WA and macro-F1 as mean +- std, cost, and the paired test against the best arm."""
    out = []
    for rank, arm in enumerate(ranked, 1):
        row: dict[str, Any] = {
            "rank": rank,
            "arm": arm.name,
            f"{metric}_mean": arm.mean,
            f"{metric}_std": arm.std,
            f"{metric}_ci95": arm.ci95,
        }
        for other in METRICS:
            mean, std = arm.summary(other)
            row[f"test_{other}"] = "" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"
        row.update(
            {
                "n": len(arm.values),
                "diff_to_best": arm.diff,
                "p_value": arm.p_value,
                "significant": "yes" if arm.significant else ("-" if rank == 1 else "no"),
                "params": arm.params if math.isnan(arm.params) else int(arm.params),
                "gflops": arm.gflops,
                "train_seconds": arm.seconds,
            }
        )
        out.append(row)
    return out
