"""Make a committed SQLite store viewable on any clone, as this release records a study.

    python -m ablate.tracking.bundle docs/results/emodb-h200.db

Every experiment and run gets a relative artifact location, ``<store>-artifacts/...``, which
``ablate ui`` resolves against the store's folder (it starts the MLflow server there); the
artifacts found on this machine are copied there. Speaker-dependent studies move to
experiments of their own (:mod:`ablate.tracking.separate`); trial runs get this release's
names and display copies of their numbers; each question gets its view, and a study run
once per seed its pooled answer (:mod:`ablate.tracking.questions`). A store written before
this release is
brought up to date from what it logged: trial runs named by arm and tagged
``ablate.kind = trial``, each trial's config, per-fold scores, intervals and learning
curves rebuilt from its metrics, the study's answer on its parent run, and the experiment
opening on its ranked runs. Confusion matrices cannot be rebuilt (the per-class
counts were only in the lost artifacts); a trial's description says so.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ablate.errors import AblateError
from ablate.identity import OPERATIONAL_KEYS
from ablate.intervals import score_interval
from ablate.tracking import folds as fold_runs
from ablate.tracking import views
from ablate.tracking.answer import NOTE_TAG, publish
from ablate.tracking.folds import fold_values
from ablate.tracking.mlflow_store import Store
from ablate.tracking.naming import LEAK, arm_name
from ablate.tracking.plots import curves_png
from ablate.tracking.separate import separate
from ablate.tracking.stats import fold_means

KIND_TAG = "ablate.kind"
LOST = (
    "Rebuilt from this run's logged metrics: config.yaml, folds.json (per-fold test scores) "
    "and learning_curves.png. The run's original artifacts (its confusion matrix and "
    "weights) were lost with the machine that ran it; they are not made up here."
)


def relocate(db: Path) -> tuple[str, list[str]]:
    """Copy the artifacts of ``db`` that exist on this machine to ``<stem>-artifacts/``
    beside it, and point every artifact location there (relative). Returns that folder and
    the finished study and trial runs whose artifacts are neither there nor where the store
    said (lost: each logs its config, scores and figures)."""
    root = f"{db.stem}-artifacts"
    missing = []
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        # a pooled answer's arm runs hold numbers only (ablate.tracking.questions), and a
        # fold run's one artifact, its weights, is left out of committed stores
        for run, experiment, uri, status in con.execute(
            "select run_uuid, experiment_id, artifact_uri, status from runs where run_uuid not "
            "in (select run_uuid from tags where key = 'ablate.kind' and value in ('arm', 'fold'))"
        ):
            source = Path(uri.removeprefix("file://"))
            target = db.parent / root / str(experiment) / run / "artifacts"
            if source.is_absolute() and source.is_dir() and source != target:
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif status == "FINISHED" and not target.is_dir():
                missing.append(run)
        con.execute("update experiments set artifact_location = ? || '/' || experiment_id", (root,))
        con.execute(
            "update runs set artifact_uri = ? || '/' || experiment_id || '/' || run_uuid || "
            "'/artifacts'",
            (root,),
        )
    return root, missing


def _series(db: Path) -> dict[str, dict[tuple[int, int], list[dict[str, Any]]]]:
    """Old-layout epoch series: ``{run: {(seed, fold): [{stage, epoch, metric...}]}}``."""
    query = "select run_uuid, key, value, step from metrics where key like 'seed%/fold%/%/%'"
    rows: dict[str, dict[tuple[int, int], dict[tuple[str, int], dict]]] = {}
    with contextlib.closing(sqlite3.connect(db)) as con:
        for run, key, value, step in con.execute(query):
            seed, fold, stage, name = key.split("/", 3)
            entry = rows.setdefault(run, {}).setdefault((int(seed[4:]), int(fold[4:])), {})
            entry.setdefault((stage, step), {"stage": stage, "epoch": step})[name] = value
    return {
        run: {
            sf: [entries[k] for k in sorted(entries, key=lambda k: k[1])]
            for sf, entries in f.items()
        }
        for run, f in rows.items()
    }


def _unflatten(params: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, text in sorted(params.items()):
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text) if text else text
    return tree


def _name(tags: dict[str, str]) -> str:
    """A trial run's name as this release gives it: its arm (floats to 3 significant
    digits), the leak mark, its seeds and number."""
    swept = json.loads(tags.get("ablate.swept", "{}") or "{}")
    seeds = len(json.loads(tags.get("ablate.seeds", "[0]") or "[0]"))
    mark = f" ({LEAK})" if tags.get("ablate.speaker_independent") == "false" else ""
    name = f"{arm_name(swept, 3)}{mark}, {seeds} seed{'s' if seeds != 1 else ''} "
    return name + f"(trial {tags.get('ablate.trial', '?')})"


def _trial(store: Store, run: Any, series: dict, fold_runs: list[Any]) -> None:
    """Tag, name, interval and show the numbers of one trial run as this release does
    (its intervals over its folds' scores, ``fold_runs`` or its old per-fold metrics);
    an old one's artifacts are rebuilt from its metrics."""
    tags = run.data.tags
    store.set_tags(run.info.run_id, {"mlflow.runName": _name(tags)})
    scores = fold_values(run, fold_runs) if run.info.status == "FINISHED" else {}
    if scores:
        spread = _intervals(scores)
        store.log_metrics(run.info.run_id, spread)
        store.set_tags(run.info.run_id, views.display_tags({**run.data.metrics, **spread}))
    if tags.get(KIND_TAG) == "trial":  # written by a recent release: its artifacts are there
        return
    store.set_tags(run.info.run_id, {KIND_TAG: "trial"})
    if not scores:
        return
    split = {int(e["fold"]): e for e in json.loads(tags.get("ablate.split", "[]") or "[]")}
    folds = [
        {
            "seed": seed,
            "fold": fold,
            "test_speakers": split.get(fold, {}).get("test_speakers"),
            "metrics": {m: v[(seed, fold)] for (role, m), v in scores.items() if not role},
        }
        for seed, fold in sorted({sf for values in scores.values() for sf in values})
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(yaml.safe_dump(_unflatten(run.data.params)))
        (out / "folds.json").write_text(json.dumps(folds, indent=1))
        histories = list(series.get(run.info.run_id, {}).values())
        if histories:
            curves_png(histories, out / "learning_curves.png")
        store.log_dir(run.info.run_id, out)
    store.set_tags(run.info.run_id, {NOTE_TAG: LOST})


def _intervals(scores: dict) -> dict[str, float]:
    """Each test metric's 95% interval over the trial's folds, as new trials log it."""
    out = {}
    for (role, metric), values in scores.items():
        if not role:
            interval = score_interval(list(fold_means(values).values()))
            out[f"test_{metric}_ci95_low"] = interval.low
            out[f"test_{metric}_ci95_high"] = interval.high
    return out


def _parent_params(store: Store, parent: Any, trials: list[Any]) -> None:
    """An old parent run's params: the settings its trials share (operational keys left
    out) and each swept key's values, as new studies log them."""
    finished = [r for r in trials if r.info.status == "FINISHED"]
    if parent.data.params or not finished:
        return
    swept: dict[str, set[str]] = {}
    for run in finished:
        for key, value in json.loads(run.data.tags.get("ablate.swept", "{}") or "{}").items():
            swept.setdefault(key, set()).add(str(value))
    params: dict[str, Any] = {
        k: v
        for k, v in finished[0].data.params.items()
        if k not in swept and k not in OPERATIONAL_KEYS
    }
    params.update({f"space.{k}": sorted(v) for k, v in swept.items()})
    params["optuna.seeds"] = finished[0].data.tags.get("ablate.seeds", "")
    store.log_params(parent.info.run_id, params)


def upgrade(db: Path) -> list[str]:
    """Relocate ``db``'s artifacts, then bring its runs, parents and experiments up to date.
    Returns the finished study and trial runs whose artifacts were found nowhere (their
    metrics and params are kept)."""
    db = db.resolve()
    if not db.is_file():  # sqlite3 would create an empty one and fail on its first query
        raise AblateError(f"{db}: no such SQLite store file")
    root, missing = relocate(db)
    separate(db, root)
    series = _series(db)
    with contextlib.chdir(db.parent):
        store = Store(f"sqlite:///{db}")
        experiments = store.client.search_experiments()
        # oldest first: the study published last, the newest, gives each experiment's default view
        for parent in reversed(store.parents([e.experiment_id for e in experiments])):
            trials = store.children(parent.info.run_id, parent.info.experiment_id)
            key = parent.data.tags.get("ablate.study_key", "")
            by_trial = fold_runs.of_study(store, parent.info.experiment_id, key)
            for run in trials:
                if run.data.tags.get(KIND_TAG) != "fold":
                    _trial(store, run, series, by_trial.get(run.info.run_id, []))
            swept = sorted(
                {k for r in trials for k in json.loads(r.data.tags.get("ablate.swept", "{}"))}
            )
            store.set_tags(parent.info.run_id, {KIND_TAG: "study"})
            _parent_params(store, parent, trials)
            views.set_up(
                store.client, parent.info.experiment_id, "test_uar_mean", "maximize", swept
            )
            publish(store, store.client.get_run(parent.info.run_id), "test_uar_mean")
    return missing


if __name__ == "__main__":
    for path in sys.argv[1:]:
        try:
            lost = upgrade(Path(path))
        except AblateError as exc:  # one line and exit 2, as every ablate command
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        print(f"{path}: artifacts in {Path(path).stem}-artifacts/ beside it")
        if lost:
            print(
                f"warning: {path}: {len(lost)} runs' artifacts were found neither beside it "
                f"nor where the store said (first: run {lost[0]}); their metrics and params "
                "are kept",
                file=sys.stderr,
            )
