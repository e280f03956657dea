"""Simulated studies written to a real MLflow store the way ablate's trials write them: a
study run, one trial run per arm (its swept values, seeds, corpus fingerprint, classes,
split and speaker independence as tags), and under it one fold run per (seed, fold) with
its test scores and each test speaker's scores, through ``ablate.tracking.folds``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ablate.tracking import folds as fold_runs
from ablate.tracking.mlflow_store import PARENT_TAG, STUDY_KEY_TAG, Store

#: ``{(seed, fold): score}`` and ``{(seed, fold, speaker): score}`` of one arm
Scores = dict[tuple[int, int], float]
SpeakerScores = dict[tuple[int, int, str], float]


def _no_weights(_state: object, path: Path) -> None:
    Path(path).write_bytes(b"")  # the fold's model.pt: compare never reads it


def write_study(
    store: Store,
    name: str,
    key: str,
    arms: dict[str, Scores],
    folds: list[list[str]],
    speakers: dict[str, SpeakerScores] | None = None,
    fingerprint: str = "corpus-1",
    margin: float | None = None,
    light: bool = False,
    independent: bool = True,
    params: dict[str, str] | None = None,
    commit: str | None = None,
) -> None:
    """Study ``key`` of experiment ``name``: each arm (a ``pos_encoding`` value) with
    its per-(seed, fold) scores; ``folds[f]`` the test speakers of fold ``f``. ``light``
    writes each fold run's tags and scores in three calls instead of the trial's eight
    (the same names; no weights file): for simulations of hundreds of studies. ``params``
    adds fixed settings to each trial, ``commit`` its ``ablate.git_commit`` tag."""
    experiment = store.experiment_id(name)
    tags = {STUDY_KEY_TAG: key, "ablate.kind": "study", "ablate.study": name}
    if margin is not None:
        tags["ablate.margin"] = repr(margin)
    parent = store.client.create_run(experiment, tags={**tags, "mlflow.runName": key})
    store.log_params(parent.info.run_id, {"data.dataset": "sim"})  # as study_params does
    split = [{"fold": f, "test_speakers": s} for f, s in enumerate(folds)]
    for number, (arm, scores) in enumerate(arms.items()):
        seeds = sorted({seed for seed, _ in scores})
        trial = _trial(
            store,
            experiment,
            parent.info.run_id,
            arm,
            light,
            {
                "ablate.kind": "trial",
                "ablate.trial": str(number),
                "ablate.swept": json.dumps({"model.pos_encoding": arm}),
                "ablate.seeds": json.dumps(seeds),
                "ablate.fingerprint": fingerprint,
                "ablate.speaker_independent": str(independent).lower(),
                "ablate.split": json.dumps(split),
                "ablate.label_names": json.dumps(["anger", "neutral"]),
                **({"ablate.git_commit": commit} if commit else {}),
            },
        )
        store.log_params(
            trial,
            {
                "data.dataset": "sim",
                "model.pos_encoding": arm,
                "protocol.split": "speaker_kfold",
                **(params or {}),
            },
        )
        for (seed, fold), value in sorted(scores.items()):
            if light:
                _light_fold(store, experiment, trial, key, seed, fold, value)
                continue
            run = fold_runs.start(store, trial, key, seed, fold)
            by_speaker = {
                speaker: {"uar": v}
                for (s, f, speaker), v in (speakers or {}).get(arm, {}).items()
                if (s, f) == (seed, fold)
            }
            result = SimpleNamespace(
                fold=fold,
                metrics={"uar": value},
                teacher_metrics={},
                speaker_metrics=by_speaker,
                teacher_speaker_metrics={},
                val_metrics={},
                test_speakers=folds[fold],
                best_epoch=0,
                state_dict={},
            )
            fold_runs.finish(store, run, seed, result, _no_weights)
        store.end(trial, "FINISHED")
    store.end(parent.info.run_id, "FINISHED")


def _trial(store, experiment, parent, name, light, tags) -> str:
    """A trial run as ``Store.start_child`` makes it; ``light`` leaves out its provenance
    tags (a git call per run)."""
    if not light:
        return store.start_child(experiment, parent, name, tags)
    tags = {**tags, PARENT_TAG: parent, "mlflow.runName": name}
    return store.client.create_run(experiment, tags=tags).info.run_id


def _light_fold(store, experiment, trial, key, seed, fold, value) -> None:
    tags = {
        fold_runs.KIND_TAG: fold_runs.FOLD,
        STUDY_KEY_TAG: key,
        fold_runs.SEED_TAG: str(seed),
        fold_runs.FOLD_TAG: str(fold),
        PARENT_TAG: trial,
    }
    run = store.client.create_run(experiment, tags=tags).info.run_id
    store.log_metrics(run, {"test_uar": value})
    store.client.set_terminated(run, "FINISHED")
