"""Stop signals and worker processes.

Ctrl-C and SIGTERM stop a study between (or inside) trials; the signal is remembered so
that a stop Python dropped (inside a finalizer or weakref callback) is raised again at the
next check. ``--workers N`` starts N processes on the same storage, each given the
validated study itself (not a command line to parse again), its output in a log file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ablate.streams import tolerant_streams


class Stops:
    """Turns Ctrl-C and SIGTERM into ``KeyboardInterrupt`` and remembers the signal."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def catch(self) -> Stops:
        """Install the handlers, starting from no stop."""
        self.signal = None
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)
        return self

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        raise KeyboardInterrupt(f"signal {signum}")

    def check(self) -> None:
        """Raise the stop again if one came: Python prints and drops a KeyboardInterrupt
        that lands inside a finalizer or weakref callback, which would lose a Ctrl-C."""
        if self.signal is not None:
            raise KeyboardInterrupt(f"signal {self.signal}")


def _run_logged(target: Callable[..., None], args: Sequence[Any], log: str) -> None:
    """In the worker process: everything it prints, Python or native, goes to ``log``."""
    handle = open(log, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    tolerant_streams()
    target(*args)


def _exit(code: int | None) -> str:
    """How a worker ended: ``exited with 2`` or ``was killed by SIGKILL``."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


def spawn(
    target: Callable[..., None],
    args: Sequence[Sequence[Any]],
    logs: Path,
    watch: Callable[[], None],
    every: float = 1.0,
) -> list[str]:
    """Run ``target(*args[i])`` in one fresh process per ``i``, its output in
    ``logs/worker<i>-<pid>.log`` (``pid``: this process, so that commands sharing a run dir
    keep their own logs; appended to, never truncated), calling ``watch`` every ``every``
    seconds until all exit. Returns one line per worker that failed (its exit and the last
    line of its log).

    Ctrl-C is passed on to every worker, which is then waited for, as is any other stop
    of this process.
    """
    logs.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")  # no forked copy of this process's state
    paths = [logs / f"worker{index}-{os.getpid()}.log" for index in range(len(args))]
    for path in paths:  # there even for a worker killed before it opens it
        path.touch()
    procs = [
        context.Process(target=_run_logged, args=(target, own, str(path)), name=path.stem)
        for own, path in zip(args, paths, strict=True)
    ]
    try:
        for proc in procs:
            proc.start()
        while any(proc.is_alive() for proc in procs):
            time.sleep(every)
            watch()
    except BaseException:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGINT)
        for proc in procs:
            if proc.pid is not None:
                proc.join()
        raise
    watch()
    failed = []
    for index, (proc, path) in enumerate(zip(procs, paths, strict=True)):
        if proc.exitcode != 0:
            tail = path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            failed.append(f"worker {index} {_exit(proc.exitcode)} ({tail[0]}; see {path})")
    return failed
