"""How an exception in a study is judged: the trial's own failure, or a halt.

* The trial's own failure (a plugin that raises, a loss that diverges, data that cannot
  be used): deterministic, so the trial is FAIL with its reason in one line, counted, and
  never retried; the study goes on.
* A halt (a file, folder or store that refuses writes: a read-only run dir, cwd, mlruns
  or cache, a full disk, a store that errs): nothing the trial did, so the study stops
  with one line naming what refused, the trial is not counted, and the next run retries
  it. Optuna and MLflow are left agreeing (a trial's run is FINISHED only once Optuna has
  recorded it COMPLETE).
"""

from __future__ import annotations

import sysconfig
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import torch

from ablate.errors import AblateError, first_line
from ablate.training.engine import TrialFailed

#: what SQLite (through SQLAlchemy or MLflow) says when its file or folder refuses writes
_REFUSALS = (
    "readonly database",
    "read-only file system",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "no space left on device",
    "permission denied",
)
#: frames in these folders are not where a plugin's bug is
_LIBRARIES = (
    str(Path(sysconfig.get_paths()["stdlib"]).resolve()),
    str(Path(torch.__file__).resolve().parent),
)


class Halt(Exception):
    """The study cannot go on here; the message is one line naming what refused."""


class Stopped(AblateError):
    """The study stopped midway (one line saying why); running the same command again
    resumes it, keeping every finished trial."""


class Reaped(Exception):
    """Another process failed this trial, and queued its retry, while this one was not
    heard from (stopped past the heartbeat grace): nothing more is written for it."""


def refusal(exc: BaseException) -> str | None:
    """What refused and why, when ``exc`` (or an exception it was raised while handling:
    Optuna replaces a failed write by ``AssertionError: Should not reach.``) is a file or
    store refusing to work."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.strerror:
            target = exc.filename if exc.filename is not None else "a file"
            return f"cannot write {target} ({exc.strerror})"
        for line in str(exc).splitlines():  # SQLAlchemy may say it on a later line
            if any(phrase in line.lower() for phrase in _REFUSALS):
                return line.strip()
        exc = exc.__cause__ or exc.__context__
    return None


def _where(exc: BaseException) -> str:
    """The innermost frame outside Python's and torch's own code: the plugin's line."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not str(Path(frame.filename).resolve()).startswith(_LIBRARIES):
            return f" (at {Path(frame.filename).name}:{frame.lineno})"
    return ""


def reason(exc: BaseException) -> str:
    """``AttributeError: 'X' object has no attribute 'y' (at plugin.py:12)``."""
    return f"{type(exc).__name__}: {first_line(exc)}{_where(exc)}"


@contextmanager
def trial_failures() -> Iterator[None]:
    """Around a trial's training: any exception is the trial's own failure
    (:class:`TrialFailed`), unless a file refused to be written (:class:`Halt`)."""
    try:
        yield
    except (TrialFailed, AblateError, optuna.TrialPruned, Halt, Reaped):
        raise
    except Exception as exc:
        problem = refusal(exc)
        if problem is not None:
            raise Halt(problem) from None
        raise TrialFailed(reason(exc)) from None


@contextmanager
def halts(where: str) -> Iterator[None]:
    """Around calls to a store (``where``: its name and URL): any exception halts."""
    try:
        yield
    except Halt:
        raise
    except AblateError as exc:  # the store's own one-line message
        raise Halt(str(exc)) from None
    except Exception as exc:
        problem = refusal(exc) or f"{type(exc).__name__}: {first_line(exc)}"
        raise Halt(f"{where}: {problem}") from None
