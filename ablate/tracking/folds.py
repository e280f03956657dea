"""Per-fold records: one nested MLflow run per (seed, test fold) under its trial's run.

A fold run holds that fold's epoch series (``train/val_uar`` by epoch, one chart each),
its test scores (``test_uar``, ``test_war``, ``test_f1``; a distilled trial also
``teacher_test_*``), each test speaker's own scores (``speaker/03/test_uar``: a fold of
several test speakers can then be analysed speaker by speaker), the validation scores of
its final weights (``val_uar``, ``val_war``, ``val_f1``, when the fold had validation
speakers: what a nested choice reads), its test speakers and its trained weights
(``model.pt``). The trial's
own run keeps only the summaries and the learning curves averaged over folds, so its
charts are few and per-fold detail is one click away.

:func:`fold_values` is the one reader of per-fold test scores. Stores written before fold
runs existed (the committed docs/results stores) kept them on the trial run as metrics
named ``seed{s}/fold{f}/test_{m}``; it reads both.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ablate.tracking.mlflow_store import PARENT_TAG, STUDY_KEY_TAG, Store, tag_is
from ablate.training.metrics import TEST_METRICS

KIND_TAG, FOLD = "ablate.kind", "fold"
#: the role of a distillation teacher's scores (and the name of its arm)
TEACHER = "teacher"
SEED_TAG, FOLD_TAG = "ablate.seed", "ablate.fold"
#: the distillation teacher's scores on a fold run: ``teacher_test_uar``
TEACHER_PREFIX = "teacher_"
#: the old layout: per-fold scores as metrics of the trial run
_OLD_KEY = re.compile(r"^seed(\d+)/fold(\d+)/(teacher_)?test_(\w+)$")
#: one test speaker's scores on a fold run: ``speaker/03/test_uar``
_SPEAKER_KEY = re.compile(r"^speaker/(.+)/(teacher_)?test_(\w+)$")
#: what MLflow allows in a metric name besides letters and digits (``/`` separates)
_UNSAFE = re.compile(r"[^\w\-. ]")
#: ``{(role, metric): {(seed, fold): value}}``, role ``""`` or ``"teacher"``
FoldValues = dict[tuple[str, str], dict[tuple[int, int], float]]
#: ``{(role, metric): {(seed, fold, speaker): value}}``
SpeakerValues = dict[tuple[str, str], dict[tuple[int, int, str], float]]


def start(store: Store, trial_run: Any, study_key: str, seed: int, fold: int) -> str:
    """A RUNNING fold run nested under ``trial_run`` (its run id)."""
    tags = {
        KIND_TAG: FOLD,
        STUDY_KEY_TAG: study_key,
        SEED_TAG: str(seed),
        FOLD_TAG: str(fold),
        PARENT_TAG: trial_run,
        "mlflow.runName": f"seed {seed} fold {fold}",
    }
    experiment = store.client.get_run(trial_run).info.experiment_id
    return store.client.create_run(experiment, tags=tags).info.run_id


def finish(store: Store, run_id: str, seed: int, result: Any, torch_save: Any) -> None:
    """A fold's test scores, its validation scores (when it had validation speakers),
    speakers and weights; the run is then FINISHED."""
    scores = {f"test_{m}": v for m, v in result.metrics.items()}
    scores.update({f"val_{m}": v for m, v in result.val_metrics.items()})
    scores.update({f"{TEACHER_PREFIX}test_{m}": v for m, v in result.teacher_metrics.items()})
    for prefix, by_speaker in (
        ("", result.speaker_metrics),
        (TEACHER_PREFIX, result.teacher_speaker_metrics),
    ):
        for speaker, metrics in by_speaker.items():
            name = _UNSAFE.sub("_", str(speaker))
            scores.update({f"speaker/{name}/{prefix}test_{m}": v for m, v in metrics.items()})
    store.log_metrics(run_id, scores)
    speakers = "+".join(str(s) for s in result.test_speakers) or "-"
    store.set_tags(
        run_id,
        {
            "ablate.test_speakers": speakers,
            "ablate.best_epoch": str(result.best_epoch),
            "mlflow.runName": f"seed {seed} fold {result.fold}: test {speakers}",
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        torch_save(result.state_dict, Path(tmp) / "model.pt")
        store.log_dir(run_id, Path(tmp))
    store.end(run_id, "FINISHED")


def of_study(store: Store, experiment_id: str, study_key: str) -> dict[str, list[Any]]:
    """The finished fold runs of a study, by their trial run's id."""
    query = (
        f"{tag_is(KIND_TAG, FOLD)} and {tag_is(STUDY_KEY_TAG, study_key)} "
        "and attributes.status = 'FINISHED'"
    )
    by_trial: dict[str, list[Any]] = {}
    for run in store.search([experiment_id], query):
        by_trial.setdefault(run.data.tags[PARENT_TAG], []).append(run)
    return by_trial


def fold_values(run: Any, fold_runs: Iterable[Any] = ()) -> FoldValues:
    """A finished trial's per-fold test scores, from its fold runs or (old layout) its
    own metrics."""
    out: FoldValues = {}
    for key, value in run.data.metrics.items():
        match = _OLD_KEY.match(key)
        if match and match.group(4) in TEST_METRICS:
            role = TEACHER if match.group(3) else ""
            seed_fold = (int(match.group(1)), int(match.group(2)))
            out.setdefault((role, match.group(4)), {})[seed_fold] = value
    for fold_run in fold_runs:
        tags = fold_run.data.tags
        seed_fold = (int(tags[SEED_TAG]), int(tags[FOLD_TAG]))
        for role, prefix in (("", ""), (TEACHER, TEACHER_PREFIX)):
            for metric in TEST_METRICS:
                value = fold_run.data.metrics.get(f"{prefix}test_{metric}")
                if value is not None:
                    out.setdefault((role, metric), {})[seed_fold] = value
    return out


def speaker_values(fold_runs: Iterable[Any]) -> SpeakerValues:
    """Each test speaker's scores on its fold runs (none in stores written before they
    were recorded)."""
    out: SpeakerValues = {}
    for fold_run in fold_runs:
        tags = fold_run.data.tags
        seed, fold = int(tags[SEED_TAG]), int(tags[FOLD_TAG])
        for key, value in fold_run.data.metrics.items():
            match = _SPEAKER_KEY.match(key)
            if match and match.group(3) in TEST_METRICS:
                role = TEACHER if match.group(2) else ""
                out.setdefault((role, match.group(3)), {})[(seed, fold, match.group(1))] = value
    return out


def averaged_curves(histories: Iterable[list[Mapping[str, Any]]]) -> dict[int, dict[str, float]]:
    """Each epoch's ``{stage}/{metric}`` averaged over the folds (and seeds) that reached
    it: ``{epoch: {"train/val_uar": 0.41, ...}}``."""
    sums: dict[int, dict[str, list[float]]] = {}
    for history in histories:
        for row in history:
            stage, epoch = row.get("stage", "train"), int(row.get("epoch", 0))
            for name, value in row.items():
                if name in ("stage", "epoch") or not isinstance(value, int | float):
                    continue
                sums.setdefault(epoch, {}).setdefault(f"{stage}/{name}", []).append(value)
    return {
        epoch: {name: sum(values) / len(values) for name, values in metrics.items()}
        for epoch, metrics in sums.items()
    }
