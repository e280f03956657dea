"""A running trial's record in the Optuna storage: its heartbeat, whether it is still this
process's, and its verdict, written so that finished training is not lost to a storage
that is down for a few seconds.

Optuna's own loop (``Study.optimize``) lost both: a failed final write became
``UnboundLocalError: cannot access local variable 'updated_state'`` and left the trial
RUNNING, and a trial that another process had reaped meanwhile (this one was stopped past
the heartbeat grace) became ``AssertionError: Should not reach.``. ablate asks and tells
itself: the verdict is retried for :data:`TELL_RETRY_S` seconds, and a reaped trial is
noticed before anything more is written for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from ablate.errors import first_line
from ablate.studies.failures import Halt, Reaped, refusal
from ablate.studies.storage import heartbeat_timing

#: seconds a trial's verdict is retried while the storage does not answer
TELL_RETRY_S = 60.0


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat (every 20 s: :func:`.storage.heartbeat_timing`) on a
    storage that keeps them. A beat the storage refuses is skipped: a short outage must not end the
    thread (Optuna's ends with a traceback), and a long one is the grace period's to judge."""
    if not isinstance(storage, optuna.storages.RDBStorage):
        yield
        return
    stop, every = threading.Event(), heartbeat_timing()[0]

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)
            if stop.wait(every):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class Ownership:
    """Whether a trial is still this process's: :meth:`check` raises :class:`Reaped` when it
    is no longer RUNNING. Another process may fail it only after it went unheard for the
    grace period, so the storage is asked only when a heartbeat interval has passed since
    the last check (a process that was stopped sees the gap at once), or when ``sure``
    (before results are written); a storage that does not answer now is not a verdict
    (the final write decides)."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, number: int):
        self.storage, self.trial_id, self.number = storage, trial_id, number
        self.every, self.last = heartbeat_timing()[0], time.monotonic()

    def check(self, sure: bool = False) -> None:
        if not sure and time.monotonic() - self.last < self.every:
            return
        try:
            state = self.storage.get_trial(self.trial_id).state
        except Exception:
            return
        self.last = time.monotonic()
        if state != TrialState.RUNNING:
            raise Reaped(_reaped(self.number, state))


def _reaped(number: int, state: TrialState) -> str:
    return (
        f"trial {number} was taken over by another process ({state.name}, retried there) "
        "while this one was not heard from (stopped past the heartbeat grace?); its "
        "training here is dropped"
    )


def tell(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    trial: optuna.Trial,
    trial_id: int,
    where: str,
    state: TrialState | None = None,
    value: float | None = None,
) -> FrozenTrial:
    """Record the trial's verdict (``value``: COMPLETE, or FAIL when not finite; else
    ``state``), retried while the storage does not answer, for :data:`TELL_RETRY_S` s.

    Raises :class:`Reaped` when another process finished the trial first, and
    :class:`Halt` (one line naming the storage) when the storage refuses or stays down."""
    deadline = time.monotonic() + TELL_RETRY_S
    pause, told = 0.5, False
    verdict = TrialState.COMPLETE if value is not None else state
    while True:
        try:
            found = storage.get_trial(trial_id)
            if found.state == verdict and told:  # an earlier try was written, not answered
                return found
            if found.state != TrialState.RUNNING:
                raise Reaped(_reaped(trial.number, found.state))
            told = True
            if value is not None:
                return study.tell(trial, value)
            return study.tell(trial, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:  # reaped between the two
            raise Reaped(_reaped(trial.number, storage.get_trial(trial_id).state)) from None
        except (Reaped, KeyboardInterrupt):
            raise
        except Exception as exc:
            problem = refusal(exc)
            if problem is not None or time.monotonic() > deadline:
                why = problem or f"{type(exc).__name__}: {first_line(exc)}"
                raise Halt(f"{where}: {why}") from None
        time.sleep(pause)
        pause = min(pause * 2, 5.0)
