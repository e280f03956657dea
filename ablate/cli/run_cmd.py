"""``ablate run``: run or resume a study (an Optuna sweep tracked in MLflow)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shlex
import sys
from pathlib import Path

import click

from ablate.cli.output import console, print_rows, print_verdicts
from ablate.errors import AblateError
from ablate.files import fsync

DEFAULT_TRACKING = "sqlite:///mlflow.db"


#: bytes written (and synced) to the run dir before anything starts: a full disk fails here
PROBE_BYTES = 1 << 20


def _writable(run_dir: Path, what: str = "run dir") -> None:
    """A one-line error now, not mid-study, when ``run_dir`` is unwritable or its disk full.
    The probe file is this process's own: processes sharing the folder (two machines on
    one store folder) removed each other's and read it as "not writable"."""
    probe = run_dir / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"\0" * PROBE_BYTES)
        fsync(probe)
    except OSError as exc:
        state = "disk full" if exc.errno == errno.ENOSPC else "not writable"
        raise AblateError(f"{what} {run_dir}: {state} ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _check_tracking(uri: str) -> None:
    """A tracking server must answer; a local sqlite store needs a writable folder."""
    from ablate.tracking.mlflow_store import absolute_uri, probe

    probe(uri)
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(absolute_uri(uri).removeprefix(prefix).split("?")[0])
        _writable(path.parent, "tracking store folder")


def _ranked(rows: list[dict], metric: str) -> list[dict[str, str]]:
    """The trials as text rows, through the one cell formatter."""
    from ablate.tracking.tables import cell, columns

    names = columns(rows)
    return [{metric if c == "value" else c: cell(row.get(c)) for c in names} for row in rows]


def _print_answer(tracking_uri: str, key: str, objective: str) -> None:
    """The study's arms with their intervals and verdicts, as ``ablate compare KEY``
    prints them (nothing while no trial has finished)."""
    from ablate.tracking.answer import compare_metric
    from ablate.tracking.compare import analyse
    from ablate.tracking.mlflow_store import Store

    metric = compare_metric(objective)
    try:
        analysis = analyse(Store(tracking_uri), [key], metric)
    except AblateError:  # no finished trial: the trials table below says why
        return
    print_verdicts(analysis, f"{key}: arms by {metric}")


@click.command(
    epilog="Example: ablate run studies/pe_vs_coord.yaml train.epochs=5 --workers 2\n\n"
    "Running the same command again resumes the study; a changed config starts a new one.",
)
@click.argument("study_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option(
    "--storage",
    help="Optuna storage URL (sqlite:///..., postgresql://..., "
    "journal:///path); default: sqlite in the run dir.",
)
@click.option(
    "--tracking-uri", default=DEFAULT_TRACKING, show_default=True, help="MLflow tracking URI."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes on the same storage.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Optuna storage, teacher cache and worker logs; default runs/<study name>.",
)
@click.option("--n-trials", type=click.IntRange(1), help="Override optuna.n_trials.")
def run(
    study_file: str,
    overrides: tuple[str, ...],
    storage: str | None,
    tracking_uri: str,
    workers: int,
    run_dir: str | None,
    n_trials: int | None,
) -> None:
    """Run (or resume) the study in STUDY_FILE with KEY=VALUE overrides of its base config."""
    from ablate.plugins import get_registry
    from ablate.studies.failures import Stopped
    from ablate.studies.progress import StudyProgress, trials_done
    from ablate.studies.runner import RunOptions
    from ablate.studies.spec import load_study
    from ablate.studies.storage import default_url
    from ablate.studies.study_run import run_study
    from ablate.tracking.naming import experiment_name

    registry = get_registry()
    study = load_study(study_file, registry, overrides)
    directory = Path(run_dir or Path("runs") / study.name)
    _check_tracking(tracking_uri)
    _writable(directory)
    options = RunOptions(
        run_dir=directory,
        storage=storage or default_url(directory),
        tracking_uri=tracking_uri,
        n_trials=n_trials or study.settings.n_trials,
        workers=workers,
    )
    resume = ["ablate", "run", study_file, *overrides]
    if storage:
        resume += ["--storage", storage]
    if tracking_uri != DEFAULT_TRACKING:
        resume += ["--tracking-uri", tracking_uri]
    if run_dir:
        resume += ["--run-dir", run_dir]
    if n_trials:
        resume += ["--n-trials", str(n_trials)]
    if workers > 1:
        resume += ["--workers", str(workers)]
    console.print(
        f"study [bold]{study.key}[/]: {options.n_trials} trials, "
        f"{study.settings.sampler} sampler, metric {study.settings.metric}"
    )
    done = trials_done(options.storage, study.key)
    progress = StudyProgress(console, study.key, options.n_trials, done, study.settings.metric)
    try:
        rows, interrupted = run_study(study, options, registry, progress)
    except KeyboardInterrupt:  # before the first trial (opening the stores, loading data)
        progress.stop()
        rows, interrupted = [], True
    except Stopped:  # one line on stderr (main); the way back on stdout
        console.print(f"resume with:    {shlex.join(resume)}", soft_wrap=True)
        raise
    _print_answer(tracking_uri, study.key, study.settings.metric)
    unfinished = [row for row in rows if row["state"] != "COMPLETE"]
    if unfinished:
        print_rows(_ranked(unfinished, study.settings.metric), "trials without a result")
    elsewhere = [str(row["trial"]) for row in rows if row["state"] == "RUNNING"]
    if elsewhere and not interrupted:
        done = sum(row["state"] in ("COMPLETE", "PRUNED", "FAIL") for row in rows)
        which = (
            f"trial {elsewhere[0]} is"
            if len(elsewhere) == 1
            else (f"trials {', '.join(elsewhere)} are")
        )
        console.print(
            f"note: {done}/{options.n_trials} trials done; {which} still running in "
            "another process, which finishes the study",
            soft_wrap=True,
        )
    console.print(f"Optuna storage: {options.storage}  (study {study.key})", soft_wrap=True)
    console.print(
        f"MLflow store:   {tracking_uri}  (experiment {experiment_name(study)}); "
        f"view with: ablate ui --tracking-uri {tracking_uri}",
        soft_wrap=True,
    )
    if interrupted:
        console.print(f"resume with:    {shlex.join(resume)}", soft_wrap=True)
        console.print("interrupted: finished trials are kept; the command above resumes.")
        sys.exit(130)
    compare = ["ablate", "compare", study.key]
    if tracking_uri != DEFAULT_TRACKING:
        compare += ["--tracking-uri", tracking_uri]
    console.print(f"compare with:   {shlex.join(compare)}", soft_wrap=True)
    if rows and all(row["state"] == "FAIL" for row in rows):
        raise AblateError(
            f"every trial of {study.key} failed ({len(rows)}); their reasons are in the "
            "note column above"
        )
