"""A study's trial budget: what counts, what runs, and what is reaped and retried.

Budget: ``n_trials`` trials that reached a verdict (COMPLETE, PRUNED, or FAIL for a reason
of their own such as a NaN loss). A trial whose process died or was interrupted does not
count: it is failed (same host: its pid is gone; another host: Optuna's heartbeat) and its
parameters are queued again, exactly once however many processes reap at the same moment
(they take the study's lock in turn, :class:`.storage.StudyLock`), so the next trial
retries it. Before training, a trial checks that fewer than ``n_trials`` trials numbered
below it hold a place in the budget (counted, running, queued, or interrupted and due for
a retry), so several workers never run more than the budget and never take a grid point's
place while its retry is on its way; a trial over budget, or a queued retry whose trial
counted after all or was queued before, is discarded (FAIL, ``discarded``) untrained.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from ablate.studies.storage import StudyLock, heartbeat_timing

HOST = socket.gethostname()
#: what ``GridSampler`` records of a trial's grid point (its id first)
GRID_ATTRS = ("grid_id", "search_space")


class Discarded(Exception):
    """The budget was used up by other workers before this trial started training."""


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial used up one unit of the budget."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get("counted"))


def interrupted(trial: FrozenTrial) -> bool:
    """A failed trial that did not count (its process died or was stopped) and is retried."""
    return (
        trial.state == TrialState.FAIL
        and not counted(trial)
        and not trial.user_attrs.get("discarded")
        and bool(trial.params or GRID_ATTRS[0] in trial.system_attrs)
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tally(study: optuna.Study) -> tuple[int, int, float | None]:
    """(counted trials, running trials, best value so far)."""
    trials = study.get_trials(deepcopy=False)
    done = sum(counted(t) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return done, running, (pick(values) if values else None)


def used_up(study: optuna.Study, n_trials: int) -> bool:
    """Nothing left for this process: the budget is counted or running, and no retry is
    queued (a queued one is taken, and run or discarded, before stopping)."""
    trials = study.get_trials(deepcopy=False)
    busy = sum(counted(t) or t.state == TrialState.RUNNING for t in trials)
    return busy >= n_trials and not any(t.state == TrialState.WAITING for t in trials)


class _Places:
    """Who holds a place in the budget, read from one listing of the study's trials."""

    def __init__(self, trials: Sequence[FrozenTrial]):
        self.trials = trials
        self.number = {t.number: t for t in trials}
        self.retries: dict[int, list[int]] = {}
        for t in sorted(trials, key=lambda t: t.number):
            if t.user_attrs.get("retry_of") is not None:
                self.retries.setdefault(int(t.user_attrs["retry_of"]), []).append(t.number)

    def superseded(self, trial: FrozenTrial) -> bool:
        """A queued retry that must not run: its trial counted after all (it finished
        while being reaped), or an earlier retry of the same trial was not discarded."""
        original = trial.user_attrs.get("retry_of")
        if original is None:
            return False
        first = self.number.get(int(original))
        if first is not None and counted(first):
            return True
        return any(
            not self.number[n].user_attrs.get("discarded")
            for n in self.retries[int(original)]
            if n < trial.number
        )

    def holds(self, trial: FrozenTrial) -> bool:
        if counted(trial):
            return True
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            return not self.superseded(trial)
        return interrupted(trial) and trial.number not in self.retries  # its retry is due

    def before(self, number: int) -> int:
        return sum(self.holds(t) for t in self.trials if t.number < number)


def claim(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> None:
    """Mark ``trial`` as this process's, or discard it when the budget is used up or it
    is a retry that must not run."""
    trial.set_user_attr("host", HOST)
    trial.set_user_attr("pid", os.getpid())
    trials = study.get_trials(deepcopy=False)
    places = _Places(trials)
    mine = places.number[trial.number]
    if places.superseded(mine):
        trial.set_user_attr("discarded", True)
        raise Discarded(f"trial {trial.number}: trial {mine.user_attrs['retry_of']} is retried")
    if places.before(trial.number) >= n_trials or sum(map(counted, trials)) >= n_trials:
        trial.set_user_attr("discarded", True)
        raise Discarded(f"trial {trial.number}: budget of {n_trials} used up")


def trial_id(storage: optuna.storages.BaseStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of ``study``."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def _gone(trial: FrozenTrial, grace: float) -> bool:
    """Whether a RUNNING trial's process is gone: on this host its pid; a trial that never
    got as far as naming its process (it died just after taking the trial, before any
    heartbeat) once the grace period is over."""
    pid = trial.user_attrs.get("pid")
    if pid is None:
        started = trial.datetime_start
        return started is not None and (datetime.now() - started).total_seconds() > grace
    return trial.user_attrs.get("host") == HOST and not _alive(int(pid))


def _fail_dead(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Fail the RUNNING trials whose process is gone: on this host by pid, elsewhere by
    Optuna's heartbeat."""
    optuna.storages.fail_stale_trials(study)
    grace = heartbeat_timing()[1]
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _gone(trial, grace):
            # atomic: of the processes reaping it, one fails it, the others are told
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                storage.set_trial_state_values(
                    trial_id(storage, study, trial.number), TrialState.FAIL
                )


def _retry_interrupted(study: optuna.Study) -> list[FrozenTrial]:
    """Queue again every interrupted trial that has no retry yet; returns them."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    queued = []
    for trial in trials:
        if interrupted(trial) and trial.number not in retried:
            _retry(study, trial)
            queued.append(trial)
    return queued


def reap(
    study: optuna.Study, storage: optuna.storages.BaseStorage, lock: StudyLock
) -> list[FrozenTrial]:
    """Fail the trials whose process is gone and queue every interrupted trial again,
    once: under the study's lock, so that processes reaping at the same moment do not
    each queue a retry (three processes queued one trial three times)."""
    with lock.held():
        _fail_dead(study, storage)
        return _retry_interrupted(study)


def _retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue ``trial``'s parameters again. A grid trial keeps its grid point: Optuna's
    ``enqueue_trial`` would drop it, and ``GridSampler.after_trial`` then fails with
    ``KeyError: 'grid_id'`` on the retry of the second-to-last point."""
    system = {"fixed_params": dict(trial.params)}
    system.update({k: trial.system_attrs[k] for k in GRID_ATTRS if k in trial.system_attrs})
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            system_attrs=system,
            user_attrs={"retry_of": trial.number},
        )
    )
