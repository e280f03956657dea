"""A study's MLflow lifecycle: its parent run, one child run per trial, and their ends.

The tracker records what the study computed (the trial's metrics and objective value are
worked out in :mod:`ablate.studies.seeds` and handed over); nothing is read back from the
store to score a trial.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.trial import TrialState

from ablate.errors import first_line
from ablate.slots import Used
from ablate.studies.spec import Study
from ablate.tracking import folds, views
from ablate.tracking.answer import publish, study_params
from ablate.tracking.mlflow_store import PARENT_TAG, Store, tag_is
from ablate.tracking.naming import experiment_name, trial_run_name
from ablate.tracking.optuna_plots import optuna_pngs
from ablate.tracking.params import used_params
from ablate.tracking.results import SeedResults, log_result
from ablate.tracking.tables import markdown, to_csv
from ablate.tracking.verdicts import MARGIN_TAG

#: a trial run's tag per plugin: ``ablate.plugin.model.stem = conv (ablate 0.1.0)``
PLUGIN_TAG = "ablate.plugin"
#: why a run is ended KILLED when its process is gone
GONE = "the worker stopped before the trial finished"


class Tracker:
    """The study's parent run in the store at ``uri`` (found again or created)."""

    def __init__(self, study: Study, uri: str, storage: str):
        self.study = study
        self.store = Store(uri)
        self.experiment_id = self.store.experiment_id(experiment_name(study))
        self.parent_id = self.store.open_parent(
            self.experiment_id,
            study.key,
            {"ablate.study": study.name, "ablate.kind": "study", "ablate.storage": storage},
        )
        settings = study.settings
        swept = [dim.key for dim in study.space.dims]
        views.set_up(
            self.store.client, self.experiment_id, settings.metric, settings.direction, swept
        )
        parent = self.store.client.get_run(self.parent_id)
        if not parent.data.params:
            self.store.log_params(self.parent_id, study_params(study))
        self._margin(parent.data.tags.get(MARGIN_TAG))
        #: the open fold run of each (trial run, seed, fold)
        self._folds: dict[tuple[str, int, int], str] = {}

    def _margin(self, recorded: str | None) -> None:
        """The study file's margin on the parent run, where ``ablate compare`` reads it (a
        tag, not a param: it may change without changing the study)."""
        margin = self.study.margin
        if margin is not None and recorded != repr(margin):
            self.store.set_tags(self.parent_id, {MARGIN_TAG: repr(margin)})
        elif margin is None and recorded is not None:
            self.store.client.delete_tag(self.parent_id, MARGIN_TAG)

    def start_trial(
        self,
        number: int,
        config: DictConfig,
        chosen: Mapping[str, Any],
        n_seeds: int,
        tags: Mapping[str, str],
    ) -> str:
        """A trial's run, nested under the study's parent run and named by its arm."""
        name = trial_run_name(number, config, chosen, n_seeds)
        tags = {**tags, folds.KIND_TAG: "trial"}
        return self.store.start_child(self.experiment_id, self.parent_id, name, tags)

    def log_config(self, run_id: str, config: DictConfig, plugins: list[Used]) -> None:
        """The config as params, only what it used and each value resolved (the device
        that runs it, not ``auto``), each plugin's arguments with its defaults filled in,
        and a tag per plugin naming the package and version that built it."""
        from ablate.training.engine import resolve_device

        extra = {k: v for plugin in plugins for k, v in plugin.params.items()}
        device = resolve_device(config.train.device).type
        self.store.log_params(run_id, used_params(config, extra, device))
        self.store.set_tags(run_id, {f"{PLUGIN_TAG}.{p.where}": p.source for p in plugins})

    def log_epoch(
        self, run_id: str, seed: int, fold: int, stage: str, metrics: Mapping[str, Any], step: int
    ) -> None:
        """One epoch of a fold, on its nested fold run (opened on the fold's first epoch)."""
        key = (run_id, seed, fold)
        if key not in self._folds:
            self._folds[key] = folds.start(self.store, run_id, self.study.key, seed, fold)
        values = {f"{stage}/{k}": v for k, v in metrics.items() if k not in ("epoch", "stage")}
        self.store.log_metrics(self._folds[key], values, step=step)

    def fold_done(self, run_id: str, seed: int, result: Any) -> None:
        """A fold's test scores and weights on its fold run, which then ends."""
        import torch

        key = (run_id, seed, result.fold)
        if key not in self._folds:  # a fold that reported no epoch
            self._folds[key] = folds.start(self.store, run_id, self.study.key, seed, result.fold)
        folds.finish(self.store, self._folds.pop(key), seed, result, torch.save)

    def log_result(
        self, run_id: str, config: DictConfig, results: SeedResults, metrics: dict[str, float]
    ) -> None:
        log_result(self.store, run_id, config, results, metrics)

    def end(self, run_id: str, status: str, reason: str | None = None) -> None:
        """End a trial run and its fold runs still open; a FINISHED trial updates the
        study's answer on the parent run."""
        self._end_folds(run_id, status, reason)
        self.store.end(run_id, status, reason)
        if status == "FINISHED":
            self.publish()

    def _end_folds(self, run_id: str, status: str, reason: str | None) -> None:
        self._folds = {k: v for k, v in self._folds.items() if k[0] != run_id}
        query = f"{tag_is(PARENT_TAG, run_id)} and attributes.status = 'RUNNING'"
        for fold_run in self.store.search([self.experiment_id], query):
            self.store.end(fold_run.info.run_id, status, reason or "its trial ended")

    def publish(self) -> None:
        """The ranked arms on the parent run; a failure to draw them is said, and the
        trial that just finished is kept."""
        try:
            parent = self.store.client.get_run(self.parent_id)
            publish(self.store, parent, self.study.settings.metric)
        except Exception as exc:
            print(
                f"warning: the study's answer on its parent run was not updated: {first_line(exc)}",
                file=sys.stderr,
            )

    def end_if_running(self, run_id: str | None) -> None:
        """End a run its process left RUNNING (KILLED), and its open fold runs."""
        if run_id and self.store.client.get_run(run_id).info.status == "RUNNING":
            self._end_folds(run_id, "KILLED", GONE)
            self.store.end(run_id, "KILLED", GONE)

    def end_orphans(self, states: Callable[[], Mapping[int, TrialState]]) -> None:
        """End RUNNING trial runs whose Optuna trial failed without ending them (a process
        died or was interrupted between opening the run and entering the trial), and
        finish those whose trial Optuna recorded COMPLETE (a process stopped between the
        two records: a run is FINISHED only after its trial is COMPLETE).

        The runs are listed before ``states()`` reads the trials: a trial's process ends
        its run before Optuna records the verdict, so a FAIL trial whose run is still
        RUNNING has no one left to end it.
        """
        runs = self.store.children(self.parent_id, self.experiment_id, "RUNNING")
        if not runs:
            return
        now = states()
        for run in runs:
            number = run.data.tags.get("ablate.trial")
            state = now.get(int(number)) if number is not None else None
            if state == TrialState.FAIL:
                self.end_if_running(run.info.run_id)
            elif state == TrialState.COMPLETE:
                self.store.end(run.info.run_id, "FINISHED")

    def finish(
        self,
        rows: list[dict[str, Any]],
        optuna_study: optuna.Study,
        n_trials: int,
        interrupted: bool,
        tally: Callable[[], tuple[int, int, float | None]],
    ) -> None:
        """Summary tables and Optuna plots on the parent run, which ends when the budget
        is used up (or this process was interrupted, or nothing else is running).
        ``tally()`` is read last: other processes may have finished meanwhile."""
        metric = self.study.settings.metric
        try:  # the parent run ends even when its summary cannot be written (a full disk)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                named = [{metric if k == "value" else k: v for k, v in row.items()} for row in rows]
                (out / "summary.md").write_text(markdown(named))
                (out / "summary.csv").write_text(to_csv(named))
                plots = out / "plots"
                plots.mkdir()
                optuna_pngs(optuna_study, plots)
                self.store.log_dir(self.parent_id, out, "study")
            self.publish()
        finally:
            done, running, best = tally()
            metrics = {"trials_done": done}
            if best is not None:
                metrics[f"best_{metric}"] = best
            self.store.log_metrics(self.parent_id, metrics)
            if done >= n_trials:
                self.store.end(self.parent_id, "FINISHED")
            elif interrupted or not running:
                self.store.end(self.parent_id, "KILLED")
            # else: another process (machine) is still training; the last one to finish ends it
