"""A study's trial budget: what counts, what runs, and what is reaped and retried.

Budget: ``n_trials`` trials that reached a verdict (COMPLETE, PRUNED, or FAIL for a reason
of their own such as a NaN loss). A trial whose process died or was interrupted does not
count: it is failed (same host: its pid is gone; another host: Optuna's heartbeat) and its
parameters are enqueued again, so the next run retries it. Before training, a trial checks
that fewer than ``n_trials`` counted or running trials precede it, so several workers never
run more than the budget; a trial over budget is discarded (FAIL, ``discarded``) untrained.
"""

from __future__ import annotations

import contextlib
import os
import socket

import optuna
from optuna.trial import FrozenTrial, TrialState

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


def claim(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> None:
    """Mark ``trial`` as this process's, or discard it when the budget is used up."""
    ahead = sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.number < trial.number and (counted(t) or t.state == TrialState.RUNNING)
    )
    if ahead >= n_trials:
        trial.set_user_attr("discarded", True)
        raise Discarded(f"trial {trial.number}: budget of {n_trials} used up")
    trial.set_user_attr("host", HOST)
    trial.set_user_attr("pid", os.getpid())


def fail_dead(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Fail the RUNNING trials whose process is gone: on this host by pid, elsewhere by
    Optuna's heartbeat."""
    optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == HOST and pid and not _alive(int(pid)):
            # another process may have reaped it first
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def retry_interrupted(study: optuna.Study) -> list[FrozenTrial]:
    """Queue again every failed trial that did not count and has no retry yet; returns them."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    queued = []
    for trial in trials:
        if (
            trial.state != TrialState.FAIL
            or counted(trial)
            or trial.user_attrs.get("discarded")
            or trial.number in retried
            or not (trial.params or GRID_ATTRS[0] in trial.system_attrs)
        ):
            continue
        _retry(study, trial)
        queued.append(trial)
    return queued


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
