"""``ablate run --workers N``: N processes working one study through its shared storage.

Each worker is a fresh process (:func:`.workers.spawn`) with its own :class:`.runner.Session`
and ``cores / N`` threads; the parent only reaps, watches the tally and passes Ctrl-C on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import click

from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.studies.failures import Halt, Stopped, halts
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
    failed = spawn(
        run_worker, [worker] * options.workers, options.run_dir / "workers", _watch(session)
    )
    if not failed:
        return
    session.reap()  # a killed worker's trial, if the others did not take it over
    with halts(session.optuna_where):
        done = session.tally()[0]
    if done < options.n_trials:
        raise Stopped(
            f"{'; '.join(failed)}: the study is not finished; run the same command again "
            "to resume it (finished trials are kept)"
        )
    for line in failed:  # the others finished the study, its trial included
        click.echo(f"warning: {line}; the other workers finished the study", err=True)


def _with_threads(study: Study, threads: int) -> Study:
    """The study with ``train.threads`` set (operational: the study's key is unchanged)."""
    base = study.base.copy()
    base.train.threads = threads
    return dataclasses.replace(study, base=base)


def _watch(session: Session):
    def watch() -> None:
        # a poll the storage does not answer only leaves the display as it was: the
        # workers, which write to it, say what failed
        with contextlib.suppress(Exception):
            done, _, best = session.tally()
            session.progress.update(done, best)

    return watch


def run_worker(study: Study, options: RunOptions) -> None:
    """A worker process started by ``--workers``: trials only, plain log lines."""
    from rich.console import Console

    stops = Stops().catch()
    console = Console(force_terminal=False, highlight=False)
    try:
        session = Session(study, options, stops, get_registry())  # this process's plugins
        with halts(session.optuna_where):
            done = session.tally()[0]
        session.progress = StudyProgress(
            console, study.key, options.n_trials, done, study.settings.metric
        )
        session.work()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except (Halt, AblateError) as exc:
        print(f"error: {exc}", flush=True)
        raise SystemExit(2) from None
