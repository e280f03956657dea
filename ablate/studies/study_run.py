"""``ablate run``'s study: checked before anything is recorded, then worked by this process
or its workers until the budget is used up, and summed up on its MLflow run."""

from __future__ import annotations

import contextlib
import io
import warnings

import click

from ablate.registry import Registry
from ablate.studies.coverage import run_warning
from ablate.studies.failures import Halt, Stopped, halts
from ablate.studies.parallel import run_workers
from ablate.studies.preflight import check_study
from ablate.studies.progress import StudyProgress
from ablate.studies.runner import RunOptions, Session
from ablate.studies.spec import Study
from ablate.studies.workers import Stops


def run_study(
    study: Study,
    options: RunOptions,
    registry: Registry,
    progress: StudyProgress,
) -> tuple[list, bool]:
    """Run (or resume) the study here, or in worker processes (:mod:`.parallel`) when
    ``options.workers`` > 1; (rows, interrupted).

    Before the first trial (and before anything is recorded), the corpus is loaded and
    checked against every swept protocol, and every point's plugins are built and run
    once, so a data or plugin problem surfaces before any training."""
    stops = Stops()
    corpus = check_study(study, registry)
    try:
        session = Session(
            study, options, stops, registry, progress
        )  # nothing is recorded before here
        tracker = session.tracker
        with halts(session.tracking):
            warning = run_warning(
                session.optuna, tracker.store, tracker.parent_id, tracker.experiment_id
            )
    except Halt as exc:
        raise Stopped(f"{exc}; fix this and run the same command again") from None
    session.keep(study.base.data, corpus)
    if warning:
        click.echo(warning, err=True)
    stops.catch()
    interrupted, stopped = False, None
    try:
        if options.workers <= 1:
            session.work()
        else:
            run_workers(session)
    except KeyboardInterrupt:
        interrupted = True
    except Halt as exc:
        stopped = Stopped(
            f"{exc}; the trial was not counted: fix this and run the same command again "
            "(finished trials are kept)"
        )
    except Stopped as exc:
        stopped = exc
    finally:
        progress.stop()
    if stopped is not None:
        with (  # the summary, if the stores still take it; the error below says why not
            contextlib.suppress(Exception),
            warnings.catch_warnings(),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            session.finish(interrupted=True)
        raise stopped from None
    try:
        with halts(session.tracking):
            return session.finish(interrupted), interrupted
    except Halt as exc:
        raise Stopped(
            f"{exc}; the study's summary was not written (its trials are kept): fix this "
            "and run the same command again to write it"
        ) from None
