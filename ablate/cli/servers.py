"""The server processes ``ablate ui`` starts: each in a session of its own, stopped with
every process of that session, and stop signals that cannot orphan one mid-start."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: what stops `ablate ui`: Ctrl-C, `kill` or a service manager, a closed terminal
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def start(
    argv: list[str], procs: list[subprocess.Popen], cwd: Path | None = None, log: IO | None = None
) -> None:
    """Start ``argv`` in a session of its own (its workers are stopped with it, as one
    group), its output to ``log`` when given, and add it to ``procs``, where it is stopped
    from."""
    output = {"stdout": log, "stderr": subprocess.STDOUT} if log is not None else {}
    procs.append(subprocess.Popen(argv, start_new_session=True, cwd=cwd, **output))


def session_pids(sid: int) -> list[int]:
    """The processes of session ``sid`` (Linux /proc; none found elsewhere)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        with contextlib.suppress(OSError):
            if os.getsid(int(pid)) == sid:
                found.append(int(pid))
    return found


def stop(proc: subprocess.Popen) -> None:
    """Stop a server and every process of its session (one that left the server's group
    included), politely first."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for pid in session_pids(proc.pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class Interrupt:
    """A stop signal as ``KeyboardInterrupt``, once: not while ``held`` (a server being
    started and registered, raised as soon as it is), and never again once stopping (a
    second signal must not cut short the stopping of the servers)."""

    def __init__(self) -> None:
        self.asked = self.held = self.pending = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.held:
            self.pending = True
        elif not self.asked:
            self.asked = True
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False
        if self.pending:
            self.pending = False
            self(signal.SIGTERM, None)
