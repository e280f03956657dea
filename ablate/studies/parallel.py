"""``ablate run --workers N``: N processes working one study through its shared storage.

Each worker is a fresh process (:func:`.workers.spawn`) with its own :class:`.runner.Session`
and ``cores / N`` threads; the parent only reaps, watches the tally and passes Ctrl-C on.
"""

from __future__ import annotations

import dataclasses
import os

from ablate.plugins import get_registry
from ablate.studies.failures import Halt
from ablate.studies.progress import StudyProgress
from ablate.studies.runner import RunOptions, Session
from ablate.studies.spec import Study
from ablate.studies.workers import Stops, spawn


def run_workers(session: Session) -> None:
    """Run the session's study in ``options.workers`` processes until its budget is spent."""
    options = session.options
    session.reap()
    threads = max(1, (os.cpu_count() or 1) // options.workers)
    worker = (_with_threads(session.study, threads), options)
    spawn(run_worker, [worker] * options.workers, options.run_dir / "workers", _watch(session))


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
    session = Session(study, options, stops, get_registry())  # this process's plugins
    console = Console(force_terminal=False, highlight=False)
    session.progress = StudyProgress(
        console, study.key, options.n_trials, session.tally()[0], study.settings.metric
    )
    try:
        session.work()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Halt as exc:
        print(f"error: {exc}", flush=True)
        raise SystemExit(2) from None
