"""Running a study: trials drawn from shared Optuna storage, each tracked as a nested MLflow run.

The jobs around it live beside it: the budget and reaping (:mod:`.budget`), stop signals
and worker processes (:mod:`.workers`, :mod:`.parallel`), the MLflow lifecycle
(:mod:`.tracker`), the seed loop and the objective value (:mod:`.seeds`), and the dry run of
every point's plugins before the first trial (:mod:`.preflight`); `ablate run`'s whole study
runs in :mod:`.study_run`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from ablate.data.splits import make_folds
from ablate.errors import AblateError, first_line
from ablate.registry import Registry
from ablate.slots import used
from ablate.studies import budget
from ablate.studies.failures import Halt, Reaped, halts, trial_failures
from ablate.studies.progress import StudyProgress, trial_epochs
from ablate.studies.reporter import TrialReporter
from ablate.studies.samplers import pruner, sampler
from ablate.studies.seeds import run_seeds, score
from ablate.studies.spec import Study
from ablate.studies.storage import StudyLock, open_storage
from ablate.studies.summary import verdict_rows
from ablate.studies.tracker import Tracker
from ablate.studies.trial_record import Ownership, heartbeat, tell
from ablate.studies.workers import Stops
from ablate.tracking.naming import arm_label
from ablate.training.engine import TrialFailed

__all__ = ["RunOptions", "Session"]


@dataclass
class RunOptions:
    """Operational settings: they never change the study's identity."""

    run_dir: Path
    storage: str
    tracking_uri: str
    n_trials: int
    workers: int = 1


class Session:
    """One process's connection to a study's Optuna storage and MLflow store."""

    def __init__(
        self,
        study: Study,
        options: RunOptions,
        stops: Stops,
        registry: Registry,
        progress: StudyProgress | None = None,
    ):
        self.study, self.options, self.stops, self.progress = study, options, stops, progress
        self.registry = registry
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        # a store's error reaches the user as one line (failures.halts); MLflow would also
        # log each one with its traceback
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        # ablate asks and tells itself, with its own heartbeat (trial_record)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        self.tracking = f"tracking store {options.tracking_uri}"
        self.optuna_where = f"optuna storage {options.storage}"
        self.lock = StudyLock(options.storage, study.key)
        with halts(self.optuna_where):  # a server that drops out now is one line too
            self.storage = open_storage(options.storage)
            self.optuna = optuna.create_study(
                study_name=study.key,
                storage=self.storage,
                sampler=sampler(study),
                pruner=pruner(study),
                direction=study.settings.direction,
                load_if_exists=True,
            )
            self.study_id = self.storage.get_study_id_from_name(study.key)
            with warnings.catch_warnings():  # experimental in Optuna 4-5; optuna-dashboard shows it
                warnings.simplefilter("ignore")
                self.optuna.set_metric_names([study.settings.metric])
        with halts(self.tracking):
            self.tracker = Tracker(study, options.tracking_uri, options.storage)
        self._corpora: dict[str, Any] = {}

    def tally(self) -> tuple[int, int, float | None]:
        """(counted trials, running trials, best value so far)."""
        return budget.tally(self.optuna)

    def reap(self) -> None:
        """Fail trials whose process is gone, queue them again, and end their runs."""
        with halts(self.optuna_where):
            retried = budget.reap(self.optuna, self.storage, self.lock)
        with halts(self.tracking):
            self.tracker.end_orphans(
                lambda: {t.number: t.state for t in self.optuna.get_trials(deepcopy=False)}
            )
            for trial in retried:
                self.tracker.end_if_running(trial.user_attrs.get("mlflow_run_id"))

    def corpus(self, data: DictConfig) -> Any:
        """The corpus for a data config, loaded once per process."""
        from ablate.data.pipeline import load_corpus

        key = _data_key(data)
        if key not in self._corpora:
            self._corpora[key] = load_corpus(data, self.registry, self.progress is not None)
        return self._corpora[key]

    def keep(self, data: DictConfig, corpus: Any) -> None:
        """Use ``corpus``, loaded already, for ``data``."""
        self._corpora[_data_key(data)] = corpus

    # -- trials --------------------------------------------------------------------------
    def objective(self, trial: optuna.Trial, trial_id: int) -> float:
        budget.claim(self.optuna, trial, self.options.n_trials)
        owned = Ownership(self.storage, trial_id, trial.number)
        config, chosen = self.study.space.suggest(trial, self.study.base)
        seeds = self.study.settings.seeds_for(config)
        tags = {
            "ablate.study": self.study.name,
            "ablate.study_key": self.study.key,
            "ablate.trial": str(trial.number),
            "ablate.swept": json.dumps(chosen, sort_keys=True),
            "ablate.seeds": json.dumps(list(seeds)),
            "ablate.status": "running",
        }
        retry_of = trial.user_attrs.get("retry_of")
        if retry_of is not None:
            tags["ablate.retry_of"] = str(retry_of)
        with halts(self.tracking):
            run_id = self.tracker.start_trial(trial.number, config, chosen, len(seeds), tags)
        try:  # from here on, however the trial ends, its MLflow run is ended with it
            with halts(self.optuna_where):
                trial.set_user_attr("mlflow_run_id", run_id)
                trial.set_user_attr("arm", arm_label(config, chosen))
            with halts(self.tracking):
                self.tracker.log_config(run_id, config, used(config, self.registry))
            if self.progress:
                folds = len(make_folds(self.corpus(config.data), config.protocol))
                epochs = trial_epochs(config, len(seeds), folds)
                self.progress.trial_start(trial.number, chosen, epochs)
            with trial_failures():
                results = run_seeds(
                    config,
                    self.registry,
                    seeds,
                    self.corpus(config.data),
                    TrialReporter(self, trial, owned, run_id),
                    self.options.run_dir / "teachers",
                )
                metrics, value = score(results, self.study.settings.metric)
            owned.check(sure=True)  # before its results are written
            with halts(self.tracking):
                self.tracker.log_result(run_id, config, results, metrics)
        except (TrialFailed, AblateError) as exc:  # the trial's own: counted, not retried
            reason = getattr(exc, "reason", None) or str(exc)
            with halts(self.tracking):
                self.tracker.end(run_id, "FAILED", reason)
            with halts(self.optuna_where):
                trial.set_user_attr("fail_reason", reason)
                trial.set_user_attr("counted", True)
            raise
        except optuna.TrialPruned as exc:
            with halts(self.tracking):
                self.tracker.end(run_id, "KILLED", f"pruned at {exc}")
            raise
        except Reaped:  # its run is the reaper's (KILLED): nothing is written on it
            raise
        except BaseException as exc:  # interrupted or halted: not counted, retried next run
            why = str(exc) if isinstance(exc, Halt) else f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):  # the store may be what refused
                self.tracker.end(run_id, "KILLED", why.strip(": "))
            if isinstance(exc, (KeyboardInterrupt, Halt)):
                raise
            raise Halt(f"{type(exc).__name__}: {first_line(exc)}") from None
        return value  # its run is FINISHED once Optuna has recorded it COMPLETE (_after)

    def run_trial(self) -> None:
        """Ask for a trial (a queued retry first), run it, and tell its verdict."""
        with halts(self.optuna_where):
            trial = self.optuna.ask()
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(
                self.study_id, trial.number
            )
        told = {"state": TrialState.FAIL}
        try:
            try:
                with heartbeat(self.storage, trial_id):
                    told = {"value": self.objective(trial, trial_id)}
            except optuna.TrialPruned:
                told = {"state": TrialState.PRUNED}
            except (AblateError, budget.Discarded, TrialFailed):
                pass  # the trial's own verdict, FAIL; the study goes on
            except Reaped:
                raise
            except BaseException:  # interrupted or halted: FAIL, not counted, retried
                with contextlib.suppress(Exception):  # if the storage takes it now
                    tell(self.optuna, self.storage, trial, trial_id, self.optuna_where, **told)
                raise
            frozen = tell(self.optuna, self.storage, trial, trial_id, self.optuna_where, **told)
        except Reaped as exc:
            click.echo(f"warning: {exc}", err=True)
            return
        self._after(frozen)

    def _after(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            with halts(self.tracking):
                self.tracker.end(trial.user_attrs["mlflow_run_id"], "FINISHED")
        if self.progress and not trial.user_attrs.get("discarded"):
            with halts(self.optuna_where):
                done, _, best = self.tally()
            self.progress.trial_end(trial.number, trial.state.name, trial.value, done, best)

    def work(self) -> None:
        """Run trials until the budget is used up (counting other workers' trials)."""
        while True:
            self.stops.check()
            self.reap()
            with halts(self.optuna_where):
                if budget.used_up(self.optuna, self.options.n_trials):
                    return
            self.run_trial()

    # -- the end of a run ----------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One row per trial that reached a verdict, best first."""
        return verdict_rows(self.optuna.get_trials(deepcopy=False), self.study.settings.direction)

    def finish(self, interrupted: bool) -> list[dict[str, Any]]:
        """Summary table and Optuna plots on the parent run; returns the rows."""
        rows = self.rows()
        self.tracker.finish(rows, self.optuna, self.options.n_trials, interrupted, self.tally)
        return rows


def _data_key(data: DictConfig) -> str:
    return json.dumps(OmegaConf.to_container(data, resolve=True), sort_keys=True)
