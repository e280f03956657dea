"""Running a study: trials drawn from shared Optuna storage, each tracked as a nested MLflow run.

Budget: ``n_trials`` trials that reached a verdict (COMPLETE, PRUNED, or FAIL for a reason
of their own such as a NaN loss). A trial whose process died or was interrupted does not
count: it is failed (same host: its pid is gone; another host: Optuna's heartbeat) and its
parameters are enqueued again, so the next run retries it. Before training, a trial checks
that fewer than ``n_trials`` counted or running trials precede it, so several workers never
run more than the budget; a trial over budget is discarded (FAIL, ``discarded``) untrained.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from ablate.config import flatten
from ablate.errors import AblateError
from ablate.studies.progress import StudyProgress
from ablate.studies.spec import Study
from ablate.studies.storage import open_storage
from ablate.tracking.mlflow_store import Store, trial_run_name
from ablate.tracking.plots import optuna_pngs
from ablate.tracking.results import log_result

HOST = socket.gethostname()
#: what ``GridSampler`` records of a trial's grid point (its id first)
GRID_ATTRS = ("grid_id", "search_space")


class Discarded(Exception):
    """The budget was used up by other workers before this trial started training."""


@dataclass
class RunOptions:
    """Operational settings: they never change the study's identity."""

    run_dir: Path
    storage: str
    tracking_uri: str
    n_trials: int
    workers: int = 1
    #: the CLI arguments that reproduce this run, for worker processes
    argv: list[str] = field(default_factory=list)


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial used up one unit of the budget."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get("counted"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        check_stop()
        prefix = f"seed{self.seed}/fold{fold}/{stage}/"
        values = {prefix + k: v for k, v in metrics.items() if k not in ("epoch", "stage")}
        self.session.store.log_metrics(self.run_id, values, step=epoch)
        if self.session.progress:
            self.session.progress.epoch(self.trial.number, fold, stage, epoch, metrics)
        if self.session.study.settings.pruner != "none" and "val_uar" in metrics:
            self.trial.report(metrics["val_uar"], self.step)
            self.step += 1
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"fold {fold} {stage} epoch {epoch}")

    def fold_done(self, result: Any) -> None:
        """Nothing to do per fold: results are logged once the trial is complete."""


class Session:
    """One process's connection to a study's Optuna storage and MLflow store."""

    def __init__(self, study: Study, options: RunOptions, progress: StudyProgress | None = None):
        self.study, self.options, self.progress = study, options, progress
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
        self.store = Store(options.tracking_uri)
        self.experiment_id = self.store.experiment_id(study.name)
        self.parent_id = self.store.open_parent(
            self.experiment_id,
            study.key,
            {"ablate.study": study.name, "ablate.kind": "study", "ablate.storage": options.storage},
        )
        self._corpora: dict[str, Any] = {}

    # -- bookkeeping ---------------------------------------------------------------------
    def tally(self) -> tuple[int, int, float | None]:
        """(counted trials, running trials, best value so far)."""
        trials = self.optuna.get_trials(deepcopy=False)
        done = sum(counted(t) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        values = [t.value for t in trials if t.state == TrialState.COMPLETE]
        pick = max if self.study.settings.direction == "maximize" else min
        return done, running, (pick(values) if values else None)

    def reap(self) -> None:
        """Fail trials whose process is gone and enqueue their parameters for a retry."""
        optuna.storages.fail_stale_trials(self.optuna)
        for trial in self.optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            pid = trial.user_attrs.get("pid")
            if trial.user_attrs.get("host") == HOST and pid and not _alive(int(pid)):
                # another process may have reaped it first
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        self._end_orphan_runs()
        trials = self.optuna.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for trial in trials:
            if (
                trial.state != TrialState.FAIL
                or counted(trial)
                or trial.user_attrs.get("discarded")
                or trial.number in retried
                or not (trial.params or GRID_ATTRS[0] in trial.system_attrs)
            ):
                continue
            run_id = trial.user_attrs.get("mlflow_run_id")
            if run_id and self.store.client.get_run(run_id).info.status == "RUNNING":
                self.store.end(run_id, "KILLED", "the worker stopped before the trial finished")
            self._retry(trial)

    def _retry(self, trial: FrozenTrial) -> None:
        """Queue ``trial``'s parameters again. A grid trial keeps its grid point: Optuna's
        ``enqueue_trial`` would drop it, and ``GridSampler.after_trial`` then fails with
        ``KeyError: 'grid_id'`` on the retry of the second-to-last point."""
        system = {"fixed_params": dict(trial.params)}
        system.update({k: trial.system_attrs[k] for k in GRID_ATTRS if k in trial.system_attrs})
        self.optuna.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                system_attrs=system,
                user_attrs={"retry_of": trial.number},
            )
        )

    def _end_orphan_runs(self) -> None:
        """End RUNNING trial runs whose Optuna trial failed without ending them (a process
        died or was interrupted between opening the run and entering the trial).

        Runs are read before trials: a trial's process ends its run before Optuna records
        the verdict, so a FAIL trial whose run is still RUNNING has no one left to end it.
        """
        runs = self.store.children(self.parent_id, self.experiment_id, "RUNNING")
        if not runs:
            return
        states = {t.number: t.state for t in self.optuna.get_trials(deepcopy=False)}
        for run in runs:
            number = run.data.tags.get("ablate.trial")
            if number is None or states.get(int(number)) != TrialState.FAIL:
                continue
            if self.store.client.get_run(run.info.run_id).info.status == "RUNNING":
                self.store.end(
                    run.info.run_id, "KILLED", "the worker stopped before the trial finished"
                )

    def corpus(self, data: DictConfig) -> Any:
        """The corpus for a data config, loaded once per process."""
        from ablate.data.pipeline import load_corpus

        key = json.dumps(OmegaConf.to_container(data, resolve=True), sort_keys=True)
        if key not in self._corpora:
            self._corpora[key] = load_corpus(data, progress=self.progress is not None)
        return self._corpora[key]

    # -- trials --------------------------------------------------------------------------
    def _check_budget(self, trial: optuna.Trial) -> None:
        ahead = sum(
            1
            for t in self.optuna.get_trials(deepcopy=False)
            if t.number < trial.number and (counted(t) or t.state == TrialState.RUNNING)
        )
        if ahead >= self.options.n_trials:
            trial.set_user_attr("discarded", True)
            raise Discarded(f"trial {trial.number}: budget of {self.options.n_trials} used up")

    def objective(self, trial: optuna.Trial) -> float:
        from ablate.training.trial import TrialFailed, run_trial

        self._check_budget(trial)
        trial.set_user_attr("host", HOST)
        trial.set_user_attr("pid", os.getpid())
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
        run_id = self.store.start_child(
            self.experiment_id, self.parent_id, trial_run_name(trial.number, config), tags
        )
        try:  # from here on, however the trial ends, its MLflow run is ended with it
            trial.set_user_attr("mlflow_run_id", run_id)
            self.store.log_params(run_id, flatten(config))
            if self.progress:
                self.progress.trial_start(trial.number, chosen)
            reporter = _Reporter(self, trial, run_id)
            results = []
            for seed in self.study.settings.seeds:
                seeded = config.copy()
                seeded.train.seed = seed
                reporter.seed = seed
                result = run_trial(
                    seeded,
                    corpus=self.corpus(seeded.data),
                    reporter=reporter,
                    teacher_cache=self.options.run_dir / "teachers",
                )
                results.append((seed, result))
            metrics = log_result(self.store, run_id, config, results)
            value = metrics.get(self.study.settings.metric, math.nan)
            if not math.isfinite(value):
                raise TrialFailed(f"{self.study.settings.metric} is {value}")
        except (TrialFailed, AblateError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            trial.set_user_attr("fail_reason", reason)
            trial.set_user_attr("counted", True)
            self.store.end(run_id, "FAILED", reason)
            raise
        except optuna.TrialPruned as exc:
            self.store.end(run_id, "KILLED", f"pruned at {exc}")
            raise
        except BaseException as exc:  # interrupted or a bug: not counted, retried next run
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            self.store.end(run_id, status, f"{type(exc).__name__}: {exc}".strip(": "))
            raise
        self.store.end(run_id, "FINISHED")
        return value

    def _after(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.progress and not trial.user_attrs.get("discarded"):
            done, _, best = self.tally()
            self.progress.trial_end(trial.number, trial.state.name, trial.value, done, best)

    def work(self) -> None:
        """Run trials until the budget is used up (counting other workers' trials)."""
        while True:
            check_stop()
            self.reap()
            done, running, _ = self.tally()
            if done + running >= self.options.n_trials:
                return
            self.optuna.optimize(
                self.objective,
                n_trials=1,
                catch=(AblateError, Discarded, _trial_failed()),
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
        done, _, best = self.tally()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "summary.md").write_text(table_markdown(rows, self.study.settings.metric))
            (out / "summary.csv").write_text(table_csv(rows))
            plots = out / "plots"
            plots.mkdir()
            optuna_pngs(self.optuna, plots)
            self.store.log_dir(self.parent_id, out, "study")
        done, running, best = self.tally()  # again: other processes may have finished
        metrics = {"trials_done": done}
        if best is not None:
            metrics[f"best_{self.study.settings.metric}"] = best
        self.store.log_metrics(self.parent_id, metrics)
        if done >= self.options.n_trials:
            self.store.end(self.parent_id, "FINISHED")
        elif interrupted or not running:
            self.store.end(self.parent_id, "KILLED")
        # else: another process (machine) is still training; the last one to finish ends it
        return rows


def _trial_failed() -> type[Exception]:
    from ablate.training.trial import TrialFailed

    return TrialFailed


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def table_markdown(rows: list[dict[str, Any]], metric: str) -> str:
    columns = _columns(rows)
    names = [metric if c == "value" else c for c in columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


#: the stop signal received, kept so a stop can be raised again (see ``check_stop``)
_STOP: dict[str, int | None] = {"signal": None}


def _interrupt(signum: int, frame: Any) -> None:
    _STOP["signal"] = signum
    raise KeyboardInterrupt(f"signal {signum}")


def _catch_stops() -> None:
    """Ctrl-C and SIGTERM stop the run; remember them, starting from none."""
    _STOP["signal"] = None
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def check_stop() -> None:
    """Raise the stop again if one came: Python prints and drops a KeyboardInterrupt that
    lands inside a finalizer or weakref callback, which would lose the user's Ctrl-C."""
    if _STOP["signal"] is not None:
        raise KeyboardInterrupt(f"signal {_STOP['signal']}")


def run_study(study: Study, options: RunOptions, progress: StudyProgress) -> tuple[list, bool]:
    """Run (or resume) the study here or in worker processes; (rows, interrupted)."""
    session = Session(study, options, progress)
    session.corpus(study.base.data)  # data problems surface before any training
    _catch_stops()
    interrupted = False
    try:
        if options.workers <= 1:
            session.work()
        else:
            _spawn_workers(session, options, progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.stop()
    return session.finish(interrupted), interrupted


def run_worker(study: Study, options: RunOptions) -> None:
    """A worker process started by ``--workers``: trials only, plain log lines."""
    _catch_stops()
    session = Session(study, options)
    session.progress = StudyProgress(
        _plain_console(), study.key, options.n_trials, session.tally()[0], study.settings.metric
    )
    try:
        session.work()
    except KeyboardInterrupt:
        sys.exit(130)


def _plain_console():
    from rich.console import Console

    return Console(force_terminal=False, highlight=False)


def _spawn_workers(session: Session, options: RunOptions, progress: StudyProgress) -> None:
    """Start ``options.workers`` processes on the same storage; watch the storage meanwhile."""
    session.reap()
    logs = options.run_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // options.workers)
    entry = "from ablate.cli.main import main; main()"
    procs = []
    for index in range(options.workers):
        log = (logs / f"worker{index}.log").open("w")
        argv = [sys.executable, "-c", entry, *options.argv, f"train.threads={threads}", "--worker"]
        procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        while any(p.poll() is None for p, _ in procs):
            time.sleep(1.0)
            done, _, best = session.tally()
            progress.update(done, best)
    except KeyboardInterrupt:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in procs:
            proc.wait()
        raise
    finally:
        for _, log in procs:
            log.close()
    done, _, best = session.tally()
    progress.update(done, best)
    for index, (proc, _) in enumerate(procs):
        if proc.returncode != 0:
            path = logs / f"worker{index}.log"
            tail = path.read_text().strip().splitlines()[-1:] or ["(no output)"]
            raise AblateError(
                f"worker {index} exited with {proc.returncode}: {tail[0]} (see {path})"
            )
