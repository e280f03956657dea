"""Study progress for a person: rich live bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column


def trials_done(storage_url: str, key: str) -> int:
    """Trials of study ``key`` that already used up budget, read from its storage: what a
    resumed run starts from (and its ETA counts from). 0 for a study not begun yet; a new
    default SQLite file is not created here."""
    import optuna

    from ablate.errors import AblateError, first_line
    from ablate.studies.budget import counted
    from ablate.studies.storage import open_storage

    prefix = "sqlite:///"
    path = Path(storage_url.removeprefix(prefix).split("?")[0])
    if storage_url.startswith(prefix) and not path.is_file():
        return 0
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(storage_url)
    try:
        study = optuna.load_study(study_name=key, storage=storage)
        return sum(counted(t) for t in study.get_trials(deepcopy=False))
    except KeyError:  # the storage exists, the study is new
        return 0
    except Exception as exc:  # a server that dropped out since it was opened
        raise AblateError(f"optuna storage {storage_url}: {first_line(exc)}") from None


def _bars(console: Console) -> Progress:
    """A description, a bar, done/total, time elapsed and ETA on one line of any width:
    the numbers keep their room and the description is cut (``…``) when the terminal is
    narrow (at 80 columns the ETA was cut instead)."""

    def fixed() -> Column:
        return Column(no_wrap=True)

    description = Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=10)
    return Progress(
        TextColumn("{task.description}", table_column=description),
        BarColumn(bar_width=12, table_column=fixed()),
        MofNCompleteColumn(table_column=fixed()),
        TimeElapsedColumn(table_column=fixed()),
        TimeRemainingColumn(table_column=fixed()),
        console=console,
        expand=True,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _scores(metrics: dict) -> str:
    """``loss L val UA V``; no validation figure where there is no validation split."""
    text = f"loss {_fmt(metrics.get('train_loss'))}"
    return text if "val_uar" not in metrics else f"{text} val UA {_fmt(metrics['val_uar'])}"


def trial_epochs(config: Any, seeds: int, folds: int) -> int:
    """The epochs a trial trains: each stage's, per fold and seed."""
    return seeds * folds * sum(stage_epochs(config).values())


class StudyProgress:
    """Trials done / total, best so far and ETA; the running trial's fold, epoch, loss, val UA."""

    def __init__(self, console: Console, name: str, total: int, done: int, metric: str):
        self.console, self.name, self.total, self.metric = console, name, total, metric
        self.live = console.is_terminal
        self.best: float | None = None
        self.started = time.monotonic()
        self.done_at_start = done
        self.bars: Progress | None = None
        if self.live:
            self.bars = _bars(console)
            self.study_task = self.bars.add_task(self._study_text(), total=total, completed=done)
            self.trial_task = self.bars.add_task("waiting for a trial", total=None)
            self.bars.start()
        else:
            self._line(f"study {name}: {done}/{total} trials done")

    def _line(self, text: str) -> None:
        print(text, flush=True)

    def _study_text(self) -> str:
        return f"{self.name} best {_fmt(self.best)}"

    def _eta(self, done: int) -> str:
        ran = done - self.done_at_start
        if ran <= 0 or done >= self.total:
            return "-"
        seconds = (time.monotonic() - self.started) / ran * (self.total - done)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def trial_start(self, number: int, chosen: dict[str, Any], epochs: int | None = None) -> None:
        """A trial begins; ``epochs``: how many it trains over its seeds and folds (its
        bar's total)."""
        text = ", ".join(f"{k}={v}" for k, v in chosen.items())
        if self.bars:
            self.bars.reset(self.trial_task, total=epochs, description=f"trial {number}: {text}")
        else:
            self._line(f"trial {number} started: {text}")

    def epoch(
        self, number: int, seed: int, fold: int, stage: str, epoch: int, metrics: dict
    ) -> None:
        if self.bars:
            where = f"trial {number} seed {seed} fold {fold} {stage} {epoch}"
            self.bars.update(self.trial_task, advance=1, description=f"{where}: {_scores(metrics)}")
        else:
            where = f"trial {number} seed {seed} fold {fold} {stage} epoch {epoch}"
            self._line(f"{where}: {_scores(metrics)}")

    def update(self, done: int, best: float | None) -> None:
        """New totals (from this process or read back from the shared storage)."""
        self.best = best
        if self.bars:
            self.bars.update(self.study_task, completed=done, description=self._study_text())

    def trial_end(self, number: int, state: str, value: float | None, done: int, best) -> None:
        self.update(done, best)
        if not self.bars:
            self._line(
                f"trial {number} {state.lower()}: {self.metric} {_fmt(value)} | "
                f"{done}/{self.total} done, best {_fmt(best)}, ETA {self._eta(done)}"
            )

    def stop(self) -> None:
        if self.bars:
            self.bars.stop()


def stage_epochs(config: Any) -> dict[str, int]:
    """The epochs each training stage of ``config`` runs (a cached teacher skips its own)."""
    if config.distill.enabled:
        distill = config.distill
        return {
            "teacher": distill.teacher_epochs,
            "feature": distill.feature_epochs,
            "finetune": distill.finetune_epochs,
        }
    return {"train": config.train.epochs}


class EpochProgress:
    """One model's training for ``ablate train``: a rich bar with ETA over every stage's
    epochs on a terminal, else one plain line per epoch (as ``ablate run`` prints)."""

    def __init__(self, console: Console, stages: dict[str, int]):
        self.console, self.stages = console, stages
        self.started = time.monotonic()
        self.bars: Progress | None = None
        if console.is_terminal:
            self.bars = _bars(console)
            self.task = self.bars.add_task("training", total=sum(stages.values()) or None)
            self.bars.start()

    def epoch(self, fold: int, stage: str, epoch: int, metrics: dict) -> None:
        total = self.stages.get(stage, 0)
        text = f"{stage} epoch {epoch}/{total}: {_scores(metrics)}"
        if self.bars:
            self.bars.update(self.task, advance=1, description=text)
        else:
            elapsed = time.monotonic() - self.started
            self.console.print(f"{text} ({elapsed:.0f} s)", highlight=False, soft_wrap=True)

    def fold_done(self, result: Any) -> None:
        """One model, no folds: nothing to report."""

    def stop(self) -> None:
        if self.bars:
            self.bars.stop()
