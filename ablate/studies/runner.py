"""Running a study: trials drawn from shared Optuna storage, each tracked as a nested MLflow run.

The jobs around it live beside it: the budget and reaping (:mod:`.budget`), stop signals
and worker processes (:mod:`.workers`), the MLflow lifecycle (:mod:`.tracker`), the seed
loop and the objective value (:mod:`.seeds`), and the dry run of every point's plugins
before the first trial (:mod:`.preflight`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from ablate.errors import AblateError
from ablate.studies import budget
from ablate.studies.preflight import check_space
from ablate.studies.progress import StudyProgress
from ablate.studies.seeds import run_seeds, score
from ablate.studies.spec import Study
from ablate.studies.storage import open_storage
from ablate.studies.tracker import Tracker
from ablate.studies.workers import Stops, spawn
from ablate.training.engine import TrialFailed

__all__ = ["RunOptions", "Session", "run_study", "run_worker"]


@dataclass
class RunOptions:
    """Operational settings: they never change the study's identity."""

    run_dir: Path
    storage: str
    tracking_uri: str
    n_trials: int
    workers: int = 1


def _sampler(study: Study) -> optuna.samplers.BaseSampler:
    settings = study.settings
    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(study.space.grid(), seed=settings.sampler_seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    return optuna.samplers.TPESampler(seed=settings.sampler_seed)


def _pruner(study: Study) -> optuna.pruners.BasePruner:
    settings = study.settings
    classes = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    }
    try:
        return classes[settings.pruner](**settings.pruner_args)
    except (TypeError, ValueError) as exc:
        raise AblateError(f"optuna.pruner_args: {settings.pruner}: {exc}") from None


class _Reporter:
    """Per-epoch metrics to MLflow and the progress display; validation UA to the pruner."""

    def __init__(self, session: Session, trial: optuna.Trial, run_id: str):
        self.session, self.trial, self.run_id = session, trial, run_id
        self.seed = 0
        self.step = 0

    def epoch(self, fold: int, stage: str, epoch: int, metrics: dict[str, float]) -> None:
        self.session.stops.check()
        self.session.tracker.log_epoch(self.run_id, self.seed, fold, stage, metrics, epoch)
        if self.session.progress:
            self.session.progress.epoch(self.trial.number, fold, stage, epoch, metrics)
        if self.session.study.settings.pruner != "none" and "val_uar" in metrics:
            self.trial.report(metrics["val_uar"], self.step)
            self.step += 1
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"fold {fold} {stage} epoch {epoch}")

    def fold_done(self, result: Any) -> None:
        """The fold's scores and weights go to its fold run as soon as it is tested."""
        self.session.tracker.fold_done(self.run_id, self.seed, result)


class Session:
    """One process's connection to a study's Optuna storage and MLflow store."""

    def __init__(
        self,
        study: Study,
        options: RunOptions,
        stops: Stops,
        progress: StudyProgress | None = None,
    ):
        self.study, self.options, self.stops, self.progress = study, options, stops, progress
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self.storage = open_storage(options.storage)
        self.optuna = optuna.create_study(
            study_name=study.key,
            storage=self.storage,
            sampler=_sampler(study),
            pruner=_pruner(study),
            direction=study.settings.direction,
            load_if_exists=True,
        )
        self.tracker = Tracker(study, options.tracking_uri, options.storage)
        self._corpora: dict[str, Any] = {}

    def tally(self) -> tuple[int, int, float | None]:
        """(counted trials, running trials, best value so far)."""
        return budget.tally(self.optuna)

    def reap(self) -> None:
        """Fail trials whose process is gone, end their runs and queue them again."""
        budget.fail_dead(self.optuna, self.storage)
        self.tracker.end_orphans(
            lambda: {t.number: t.state for t in self.optuna.get_trials(deepcopy=False)}
        )
        for trial in budget.retry_interrupted(self.optuna):
            self.tracker.end_if_running(trial.user_attrs.get("mlflow_run_id"))

    def corpus(self, data: DictConfig) -> Any:
        """The corpus for a data config, loaded once per process."""
        from ablate.data.pipeline import load_corpus

        key = json.dumps(OmegaConf.to_container(data, resolve=True), sort_keys=True)
        if key not in self._corpora:
            self._corpora[key] = load_corpus(data, progress=self.progress is not None)
        return self._corpora[key]

    # -- trials --------------------------------------------------------------------------
    def objective(self, trial: optuna.Trial) -> float:
        budget.claim(self.optuna, trial, self.options.n_trials)
        config, chosen = self.study.space.suggest(trial, self.study.base)
        tags = {
            "ablate.study": self.study.name,
            "ablate.study_key": self.study.key,
            "ablate.trial": str(trial.number),
            "ablate.swept": json.dumps(chosen, sort_keys=True),
            "ablate.seeds": json.dumps(list(self.study.settings.seeds)),
            "ablate.status": "running",
        }
        retry_of = trial.user_attrs.get("retry_of")
        if retry_of is not None:
            tags["ablate.retry_of"] = str(retry_of)
        run_id = self.tracker.start_trial(trial.number, config, chosen, tags)
        try:  # from here on, however the trial ends, its MLflow run is ended with it
            trial.set_user_attr("mlflow_run_id", run_id)
            self.tracker.log_config(run_id, config)
            if self.progress:
                self.progress.trial_start(trial.number, chosen)
            results = run_seeds(
                config,
                self.study.settings.seeds,
                self.corpus(config.data),
                _Reporter(self, trial, run_id),
                self.options.run_dir / "teachers",
            )
            metrics, value = score(results, self.study.settings.metric)
            self.tracker.log_result(run_id, config, results, metrics)
        except (TrialFailed, AblateError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            trial.set_user_attr("fail_reason", reason)
            trial.set_user_attr("counted", True)
            self.tracker.end(run_id, "FAILED", reason)
            raise
        except optuna.TrialPruned as exc:
            self.tracker.end(run_id, "KILLED", f"pruned at {exc}")
            raise
        except BaseException as exc:  # interrupted or a bug: not counted, retried next run
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            self.tracker.end(run_id, status, f"{type(exc).__name__}: {exc}".strip(": "))
            raise
        self.tracker.end(run_id, "FINISHED")
        return value

    def _after(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.progress and not trial.user_attrs.get("discarded"):
            done, _, best = self.tally()
            self.progress.trial_end(trial.number, trial.state.name, trial.value, done, best)

    def work(self) -> None:
        """Run trials until the budget is used up (counting other workers' trials)."""
        while True:
            self.stops.check()
            self.reap()
            done, running, _ = self.tally()
            if done + running >= self.options.n_trials:
                return
            self.optuna.optimize(
                self.objective,
                n_trials=1,
                catch=(AblateError, budget.Discarded, TrialFailed),
                callbacks=[self._after],
                gc_after_trial=False,
            )

    # -- the end of a run ----------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One row per trial that reached a verdict, best first."""
        rows = []
        for t in self.optuna.get_trials(deepcopy=False):
            if t.user_attrs.get("discarded") or t.state in (TrialState.RUNNING, TrialState.WAITING):
                continue
            seconds = (
                (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else None
            )
            rows.append(
                {
                    "trial": t.number,
                    "state": t.state.name,
                    "value": t.value,
                    **t.params,
                    "seconds": seconds,
                    "note": t.user_attrs.get("fail_reason", ""),
                }
            )
        sign = -1 if self.study.settings.direction == "maximize" else 1
        rows.sort(key=lambda r: (r["value"] is None, sign * (r["value"] or 0.0), r["trial"]))
        return rows

    def finish(self, interrupted: bool) -> list[dict[str, Any]]:
        """Summary table and Optuna plots on the parent run; returns the rows."""
        rows = self.rows()
        self.tracker.finish(rows, self.optuna, self.options.n_trials, interrupted, self.tally)
        return rows


def run_study(study: Study, options: RunOptions, progress: StudyProgress) -> tuple[list, bool]:
    """Run (or resume) the study here or in worker processes; (rows, interrupted).

    Before the first trial, the corpus is loaded and every point's plugins are built and
    run once, so a data or plugin problem surfaces before any training."""
    stops = Stops()
    session = Session(study, options, stops, progress)
    corpus = session.corpus(study.base.data)
    check_space(study, len(corpus.label_names))
    stops.catch()
    interrupted = False
    try:
        if options.workers <= 1:
            session.work()
        else:
            session.reap()
            threads = max(1, (os.cpu_count() or 1) // options.workers)
            worker = (_with_threads(study, threads), options)
            spawn(
                run_worker, [worker] * options.workers, options.run_dir / "workers", _watch(session)
            )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.stop()
    return session.finish(interrupted), interrupted


def _with_threads(study: Study, threads: int) -> Study:
    """The study with ``train.threads`` set (operational: the study's key is unchanged)."""
    base = study.base.copy()
    base.train.threads = threads
    return dataclasses.replace(study, base=base)


def _watch(session: Session):
    def watch() -> None:
        done, _, best = session.tally()
        session.progress.update(done, best)

    return watch


def run_worker(study: Study, options: RunOptions) -> None:
    """A worker process started by ``--workers``: trials only, plain log lines."""
    from rich.console import Console

    stops = Stops().catch()
    session = Session(study, options, stops)
    console = Console(force_terminal=False, highlight=False)
    session.progress = StudyProgress(
        console, study.key, options.n_trials, session.tally()[0], study.settings.metric
    )
    try:
        session.work()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
