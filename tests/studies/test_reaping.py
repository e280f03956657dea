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
from study_helpers import SEEDS, TINY, _ablate, _study, _trials, check_budget_and_tracking, wait_for

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


def _claim(study, n_trials: int) -> int | str:
    """Take the next trial (a queued one first) and claim it: its number, or 'discarded'."""
    from ablate.studies.budget import Discarded, claim

    trial = study.ask()
    try:
        claim(study, trial, n_trials)
    except Discarded:
        study.tell(trial, state=TrialState.FAIL)
        return "discarded"
    trial.suggest_categorical("x", [0, 1])  # a queued trial's own point
    return trial.number


def test_a_grid_points_place_is_kept_for_its_retry_and_stale_retries_never_run(tmp_path):
    """A trial interrupted (FAIL, not counted) keeps its place in the budget until its
    retry runs: a new trial taken meanwhile is over budget (on a grid it could only
    repeat a point, and the retry would then find the budget used up: the point was
    lost). A queued retry whose trial counted after all, or that repeats an earlier
    retry, is discarded untrained."""
    from ablate.studies.budget import _retry, reap
    from ablate.studies.samplers import GridSampler
    from ablate.studies.storage import StudyLock, open_storage

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url)
    grid = GridSampler({"x": [0, 1]})
    study = optuna.create_study(study_name="grid", storage=storage, sampler=grid)
    first, second = study.ask(), study.ask()  # points 0 and 1
    for trial in (first, second):
        trial.suggest_categorical("x", [0, 1])
    study.tell(first, state=TrialState.FAIL)  # interrupted: its retry not queued yet
    assert _claim(study, 2) == "discarded"  # trial 2 would repeat a point
    (interrupted,) = study.get_trials(states=(TrialState.FAIL,))[:1]
    reap(study, storage, StudyLock(url, "grid"))  # queues trial 0 again, as trial 3
    _retry(study, interrupted)  # and a stale second retry of it (older ablate), trial 4
    assert _claim(study, 2) == 3  # the retry runs: point 0
    assert _claim(study, 2) == "discarded"  # the second retry never runs
    study.tell(3, 0.5)
    study.tell(second, 0.7)
    points = [t.params["x"] for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert sorted(points) == [0, 1]


@pytest.mark.slow  # about 3 minutes on 2 busy cores
def test_a_grid_killed_twice_and_reaped_by_three_commands_runs_every_point_once(workdir):
    """The issue's run: two commands on one storage, both SIGKILLed mid-trial, then
    commands that reap at the same moment. Before (PostgreSQL): exit 0 and `4/4 done`, but
    two arms ran twice and two (the best among them) never."""
    storage = f"sqlite:///{workdir / 'runs' / 'tiny' / 'optuna.db'}"  # shared by all
    args = ["run", _study(workdir, SEEDS), *TINY, "train.epochs=40", "--storage", storage]

    def commands(name: str, count: int, **pipes) -> list[subprocess.Popen]:
        """``count`` commands at once, each with a run dir (and worker logs) of its own."""
        runs = [[*args, "--run-dir", f"{name}{i}"] for i in range(count)]
        return [_ablate(run, workdir, stdout=subprocess.DEVNULL, **pipes) for run in runs]

    killed = commands("killed", 2, stderr=subprocess.DEVNULL)

    def both_training() -> bool:
        trials = _trials(workdir)
        return (
            sum(t.state.name == "RUNNING" and "mlflow_run_id" in t.user_attrs for t in trials) == 2
        )

    try:
        wait_for(both_training, 300, "two trials training", killed[0])
    finally:
        for proc in killed:
            proc.kill()
            proc.wait()
    resumed = commands("resumed", 3, stderr=subprocess.PIPE, text=True)
    errors = [proc.communicate(timeout=600)[1] for proc in resumed]
    assert [proc.returncode for proc in resumed] == [0, 0, 0], [e[-500:] for e in errors]
    trials = _trials(workdir)
    assert not [t.number for t in trials if t.state.name in ("RUNNING", "WAITING")]
    points = Counter(tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE")
    assert len(points) == 4 and set(points.values()) == {1}, points  # each point once
    check_budget_and_tracking(workdir, None, 4)
