"""The nested estimate of a recipe search: per outer fold, the trial that fold's
validation speakers choose, scored on that fold's test speakers.

A search run with validation speakers (``protocol.val_fraction`` > 0, objective
``val_uar_mean``) records on every fold run the validation UA of the fold's final weights
(``val_uar``; its validation speakers are drawn from that fold's training speakers) and
the test UA (``test_uar``). For each outer fold (its test speakers) the trial with the
best validation UA there (seeds averaged; ties to the earlier trial) is chosen, and its
test UA there is the fold's nested score. Their mean over folds estimates what "search
the recipe on the training speakers, then train it" scores on unseen speakers: no test
score took part in any choice. Beside it, the usual reading of a search, the trial with
the best mean test UA (chosen by looking at the test speakers: optimistic), their paired
difference (the selection bias of choosing by test, measured on the same trials) and the
trial the search ships (the best ``val_uar_mean``, the objective).

The choice per fold reads its own training side only; the candidates are only as clean as
the sampler: ``random`` and ``grid`` propose trials blind to every score, while ``tpe``
proposes from ``val_uar_mean`` over all folds, whose validation speakers include the other
folds' test speakers. :func:`nested` says so in a note.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.intervals import Interval, t_interval
from ablate.tracking import folds as fold_runs
from ablate.tracking.arms import find_parent
from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store
from ablate.tracking.naming import arm_name

#: samplers whose proposals never read a score
BLIND = ("random", "grid")


@dataclass
class Trial:
    """One finished trial: its per-fold validation and test UA (seeds averaged)."""

    number: int
    arm: str
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    objective: float = float("nan")

    def mean_test(self) -> float:
        return statistics.fmean(self.test.values())


@dataclass
class Choice:
    """One outer fold: the trial its validation speakers chose and what it scored."""

    fold: str
    trial: Trial
    candidates: int
    #: the best test UA any trial reached on this fold (what choosing by test would give)
    best_test: float


@dataclass
class Nested:
    study: str
    choices: list[Choice]
    estimate: Interval
    #: the best trial by mean test UA over the folds (chosen by looking: optimistic)
    by_test: Trial
    #: the trial the search ships: the best val_uar_mean
    shipped: Trial
    #: ``by_test`` minus the nested choice, paired over the folds: the selection bias
    bias: Interval
    notes: list[str] = field(default_factory=list)


def _trials(store: Store, parent: Any) -> list[Trial]:
    """The finished trials of a study with their per-fold scores, seeds averaged."""
    experiment, key = parent.info.experiment_id, parent.data.tags[STUDY_KEY_TAG]
    by_trial = fold_runs.of_study(store, experiment, key)
    trials = []
    for run in store.children(parent.info.run_id, experiment, "FINISHED"):
        tags = run.data.tags
        swept = json.loads(tags.get("ablate.swept", "{}") or "{}")
        trial = Trial(int(tags.get("ablate.trial", -1)), arm_name(swept))
        trial.objective = run.data.metrics.get("val_uar_mean", float("nan"))
        scores: dict[str, dict[str, list[float]]] = {"val": {}, "test": {}}
        for fold_run in by_trial.get(run.info.run_id, []):
            speakers = fold_run.data.tags.get("ablate.test_speakers", "?")
            for kind in scores:
                value = fold_run.data.metrics.get(f"{kind}_uar")
                if value is not None:
                    scores[kind].setdefault(speakers, []).append(value)
        trial.val = {f: statistics.fmean(v) for f, v in scores["val"].items()}
        trial.test = {f: statistics.fmean(v) for f, v in scores["test"].items()}
        if trial.test:
            trials.append(trial)
    return sorted(trials, key=lambda t: t.number)


def nested(store: Store, target: str) -> Nested:
    """The nested estimate of study ``target`` (a study key or experiment name)."""
    notes: list[str] = []
    parent = find_parent(store, target, notes)
    key = parent.data.tags[STUDY_KEY_TAG]
    trials = _trials(store, parent)
    scored = [t for t in trials if t.val]
    if not scored:
        raise AblateError(
            f"--nested: study {key} recorded no validation scores per fold (val_uar on its "
            "fold runs); run the search with protocol.val_fraction > 0 (objective "
            "val_uar_mean), with this version of ablate or later"
        )
    folds = sorted({f for t in scored for f in t.val})
    choices = []
    for fold in folds:
        candidates = [t for t in scored if fold in t.val and fold in t.test]
        chosen = max(candidates, key=lambda t: (t.val[fold], -t.number))
        best = max(t.test[fold] for t in candidates)
        choices.append(Choice(fold, chosen, len(candidates), best))
    estimate = t_interval([c.trial.test[c.fold] for c in choices])
    by_test = max(trials, key=lambda t: (t.mean_test(), -t.number))
    shipped = max(scored, key=lambda t: (t.objective, -t.number))
    bias = t_interval(
        [by_test.test[c.fold] - c.trial.test[c.fold] for c in choices if c.fold in by_test.test]
    )
    params = parent.data.params
    sampler, metric = params.get("optuna.sampler", ""), params.get("optuna.metric", "")
    if metric and not metric.startswith("val_"):
        notes.append(
            f"the search optimised {metric}: its sampler read test scores, so its "
            "candidates are not blind to the test speakers; search on val_uar_mean"
        )
    elif sampler and sampler not in BLIND:
        notes.append(
            f"the {sampler} sampler proposed trials from val_uar_mean over all folds, whose "
            "validation speakers include other folds' test speakers: each fold's choice "
            "reads its own training speakers only, its candidates did not; optuna.sampler "
            "random (or grid) makes the estimate fully nested"
        )
    incomplete = [c.fold for c in choices if c.candidates < len(scored)]
    if incomplete:
        notes.append(f"folds {', '.join(incomplete)}: chosen among the trials that have them")
    return Nested(key, choices, estimate, by_test, shipped, bias, notes)


def rows(result: Nested) -> list[dict[str, Any]]:
    """One row per outer fold: its test speakers, the chosen trial and its scores."""
    return [
        {
            "test_speakers": c.fold,
            "chosen_trial": c.trial.number,
            "arm": c.trial.arm,
            "val_uar": c.trial.val[c.fold],
            "test_uar": c.trial.test[c.fold],
            "best_test_uar_on_fold": c.best_test,
            "candidates": c.candidates,
        }
        for c in result.choices
    ]


def summary(result: Nested) -> list[str]:
    """The estimate, the optimistic reading and the shipped trial, one line each."""
    e = result.estimate
    shipped, by_test, bias = result.shipped, result.by_test, result.bias
    return [
        f"nested estimate (search on each fold's training speakers, then train): test UA "
        f"{e.mean:.3f} (95% CI {e.low:.3f} to {e.high:.3f}) over {e.n} outer folds",
        f"best trial by mean test UA (chosen by looking at the test speakers, optimistic): "
        f"trial {by_test.number} ({by_test.arm}) {by_test.mean_test():.3f}",
        f"selection bias of choosing by test UA (that trial minus the nested choice, paired "
        f"over {bias.n} folds): {bias.mean:+.3f} (95% CI {bias.low:+.3f} to {bias.high:+.3f})",
        f"the search's choice to ship (best val_uar_mean {shipped.objective:.3f}): trial "
        f"{shipped.number} ({shipped.arm}), mean test UA {shipped.mean_test():.3f}",
    ]


CAPTION = (
    "Per outer fold: the trial with the best validation UA on that fold's validation "
    "speakers (drawn from its training speakers; seeds averaged, ties to the earlier trial), "
    "its validation and test UA there, the best test UA any trial reached on the fold (for "
    "contrast: choosing by test) and the trials that had the fold. The nested estimate is "
    "the mean of the chosen test UAs with a 95% t-interval over the outer folds."
)
