"""Processes reaping and taking queued trials at the same moment, for real: separate
processes started behind a barrier on SQLite, a journal file and PostgreSQL. Each
interrupted trial is queued again exactly once, and a queued trial is taken by one
process only."""

from __future__ import annotations

import multiprocessing
import subprocess
from collections import Counter

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

KINDS = ["sqlite", "journal", "postgres"]
#: processes that reap (or take a queued trial) together
PROCESSES = 3
#: queued trials taken, one after another, by the same processes
ROUNDS = 4


def _url(kind: str, tmp_path, request) -> str:
    if kind == "postgres":
        return request.getfixturevalue("postgres")
    if kind == "journal":
        return f"journal://{tmp_path / 'journal.log'}"
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _dead_pid() -> int:
    """The pid of a process that has exited (and been waited for)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _reaper(url: str, name: str, barrier) -> None:
    from ablate.studies.budget import reap
    from ablate.studies.storage import StudyLock, open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    barrier.wait(timeout=120)
    reap(study, storage, StudyLock(url, name))


@pytest.mark.parametrize("kind", KINDS)
def test_processes_reaping_at_once_queue_each_interrupted_trial_once(kind, tmp_path, request):
    """Before: each process that saw an interrupted trial without a retry queued one (3
    processes through ``Session.reap`` on SQLite queued each trial 3 times; on PostgreSQL
    [[0, 1], [1], [0, 1]]); a grid point then ran twice and another never."""
    from ablate.studies.budget import HOST
    from ablate.studies.storage import open_storage

    url = _url(kind, tmp_path, request)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="reap", storage=open_storage(url))
    dead = _dead_pid()
    choice = CategoricalDistribution(["coordinate", "none"])
    for number in range(6):  # 4 whose process died mid-trial, 2 interrupted and failed
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.RUNNING if number < 4 else TrialState.FAIL,
                params={"model.pos_encoding": ["coordinate", "none"][number % 2]},
                distributions={"model.pos_encoding": choice},
                user_attrs={"host": HOST, "pid": dead},
            )
        )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    procs = [context.Process(target=_reaper, args=(url, "reap", barrier)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES
    trials = study.get_trials()
    assert [t.state for t in trials[:6]] == [TrialState.FAIL] * 6
    retries = Counter(t.user_attrs.get("retry_of") for t in trials[6:])
    assert retries == Counter(range(6)), retries  # each trial queued again exactly once
    assert all(t.state == TrialState.WAITING for t in trials[6:])


def _popper(url: str, name: str, ready, done, numbers) -> None:
    from ablate.studies.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    for _ in range(ROUNDS):
        ready.wait(timeout=120)  # a trial was queued: all take one at once
        numbers.put(study.ask().number)
        done.wait(timeout=120)


@pytest.mark.parametrize("kind", KINDS)
def test_processes_taking_a_queued_trial_at_once_get_it_once(kind, tmp_path, request):
    """Before, on SQLite: Optuna reads a queued trial's state and then updates it, not
    atomically, and 2 of 3 processes took the same queued trial (then both trained it)."""
    from ablate.studies.storage import open_storage

    url = _url(kind, tmp_path, request)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="pop", storage=open_storage(url))
    context = multiprocessing.get_context("spawn")
    ready, done = context.Barrier(PROCESSES + 1), context.Barrier(PROCESSES + 1)
    numbers = context.Queue()
    procs = [
        context.Process(target=_popper, args=(url, "pop", ready, done, numbers))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for _ in range(ROUNDS):
        study.enqueue_trial({"x": 1})
        (queued,) = study.get_trials(states=(TrialState.WAITING,))
        ready.wait(timeout=120)
        taken = [numbers.get(timeout=120) for _ in procs]
        done.wait(timeout=120)
        assert taken.count(queued.number) == 1, taken
    for proc in procs:
        proc.join(timeout=60)
