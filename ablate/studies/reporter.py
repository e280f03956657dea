"""A trial's epochs as they train: metrics to its MLflow fold run and the progress display,
validation UA to the pruner; and, before each, whether the trial is still this process's
(another may have reaped it while this one was stopped)."""

from __future__ import annotations

from typing import Any

import optuna

from ablate.studies.failures import halts
from ablate.studies.trial_record import Ownership


class TrialReporter:  # an ablate.training.engine.Reporter
    """Per-epoch metrics to MLflow and the progress display; validation UA to the pruner."""

    def __init__(self, session: Any, trial: optuna.Trial, owned: Ownership, run_id: str):
        """``session``: the :class:`ablate.studies.runner.Session` running the trial."""
        self.session, self.trial, self.owned, self.run_id = session, trial, owned, run_id
        self.seed = 0
        self.step = 0

    def epoch(self, fold: int, stage: str, epoch: int, metrics: dict[str, float]) -> None:
        self.session.stops.check()
        self.owned.check()  # nothing is written for a trial another process took over
        with halts(self.session.tracking):
            self.session.tracker.log_epoch(self.run_id, self.seed, fold, stage, metrics, epoch)
        if self.session.progress:
            self.session.progress.epoch(self.trial.number, self.seed, fold, stage, epoch, metrics)
        if self.session.study.settings.pruner != "none" and "val_uar" in metrics:
            with halts(self.session.optuna_where):
                self.trial.report(metrics["val_uar"], self.step)
                prune = self.trial.should_prune()
            self.step += 1
            if prune:
                raise optuna.TrialPruned(f"fold {fold} {stage} epoch {epoch}")

    def fold_done(self, result: Any) -> None:
        """The fold's scores and weights go to its fold run as soon as it is tested."""
        self.owned.check()
        with halts(self.session.tracking):
            self.session.tracker.fold_done(self.run_id, self.seed, result)
