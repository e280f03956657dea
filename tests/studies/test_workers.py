"""Several worker processes on one study: SQLite and journal-file storage (PostgreSQL in
test_postgres.py). The budget holds exactly and every counted trial has one MLflow run."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
from study_helpers import (
    SEEDS,
    TINY,
    _ablate,
    _cli,
    _study,
    _trials,
    allocator_probes,
    check_budget_and_tracking,
    child_pids,
    probe_allocator,
    wait_for,
)

from ablate.allocator import _glibc
from ablate.threads import SPIN_COUNT


def _worker_logs(tmp_path) -> list[str]:
    logs = sorted((tmp_path / "runs" / "tiny" / "workers").glob("worker*.log"))
    return [p.read_text() for p in logs]


def _run_workers(tmp_path, kind: str, workers: int) -> None:
    storage = None if kind == "sqlite" else f"journal://{tmp_path / 'journal.log'}"
    args = ["run", _study(tmp_path, SEEDS), *TINY, "--workers", workers, "--n-trials", 3]
    _cli([*args, *(["--storage", storage] if storage else [])])
    logs = _worker_logs(tmp_path)
    assert len(logs) == workers
    assert sum("started:" in log for log in logs) >= 2  # trained side by side
    assert not [log for log in logs if "locked" in log.lower() or "Traceback" in log]
    check_budget_and_tracking(tmp_path, storage, 3)


def test_two_workers_share_one_sqlite_storage_and_respect_the_budget(workdir, monkeypatch):
    probe_allocator(monkeypatch, workdir / "probes")
    _run_workers(workdir, "sqlite", 2)
    # every process ablate started (the two spawn()ed workers at least) ran with its malloc
    # policy and OpenMP spin (allocator.py, threads.py); each writes its probe at exit
    probes = allocator_probes(workdir / "probes")
    assert len(probes) >= 2
    assert {p["GOMP_SPINCOUNT"] for p in probes} == {SPIN_COUNT}
    if _glibc() is not None:
        assert {(p["policy"], p["keeps_memory"]) for p in probes} == {("ablate", True)}


@pytest.mark.slow  # ~45 s each on 2 busy cores
@pytest.mark.parametrize(("kind", "workers"), [("sqlite", 3), ("journal", 2), ("journal", 3)])
def test_workers_share_one_storage_and_respect_the_budget_more(workdir, kind, workers):
    _run_workers(workdir, kind, workers)


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    """MLflow creates and migrates a SQLite schema on first open; two studies started at
    the same moment on a fresh store used to fail with "duplicate column name"."""
    start = time.time() + 3  # every process imports mlflow first, then opens together
    code = (
        "import sys, time; from ablate.tracking.mlflow_store import Store; "
        f"time.sleep(max(0, {start} - time.time())); Store(sys.argv[1])"
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, uri], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e.strip()[-300:] for e in errors]


def test_commands_sharing_a_run_dir_keep_each_others_worker_logs(tmp_path):
    """Two commands on one run dir (two terminals, or two machines on a shared disk) both
    wrote ``worker0.log``: the second truncated the first's."""
    from ablate.studies.workers import spawn

    logs = tmp_path / "workers"
    spawn(print, [["first command, worker 0"], ["first command, worker 1"]], logs, lambda: None)
    code = (
        "from pathlib import Path; from ablate.studies.workers import spawn\n"
        "if __name__ == '__main__':\n"
        f"    spawn(print, [['second command, worker 0']], Path({str(logs)!r}), lambda: None)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    text = "".join(p.read_text() for p in logs.glob("worker*.log"))
    for line in ("first command, worker 0", "first command, worker 1", "second command, worker 0"):
        assert line in text
    assert len(list(logs.glob("worker0*.log"))) == 2


WORKER = b"--multiprocessing-fork"  # in the command line of a spawned worker


@pytest.mark.slow  # multi-process fault run, ~20-40 s: `pytest -m slow`
def test_a_worker_killed_in_its_first_second_leaves_the_study_to_the_other(workdir):
    """Before: `FileNotFoundError: .../workers/worker0-<pid>.log` traceback, exit 1 (the
    worker died before it opened its log)."""
    args = ["run", _study(workdir, SEEDS), *TINY, "--workers", 2, "--n-trials", 2]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    proc = _ablate(args, workdir, **pipes)
    try:
        wait_for(lambda: child_pids(proc.pid, WORKER), 240, "a worker", proc)
        os.kill(child_pids(proc.pid, WORKER)[0], signal.SIGKILL)  # still importing
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert re.search(
        r"^warning: worker [01] was killed by SIGKILL \(no output; see .*worker[01]-\d+\.log\); "
        r"the other workers finished the study$",
        err,
        re.M,
    ), err
    check_budget_and_tracking(workdir, None, 2)


@pytest.mark.slow  # multi-process fault run, ~20-40 s: `pytest -m slow`
def test_workers_killed_mid_trial_say_how_to_resume_and_the_study_resumes(workdir):
    """Before: `error: worker 0 exited with -9: ...`, without the command that resumes."""
    args = ["run", _study(workdir, SEEDS), *TINY, "train.epochs=20", "--workers", 2]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    proc = _ablate([*args, "--n-trials", 3], workdir, **pipes)

    def training() -> bool:
        return any(
            t.state.name == "RUNNING" and "mlflow_run_id" in t.user_attrs for t in _trials(workdir)
        )

    try:
        wait_for(training, 240, "a trial training", proc)
        for pid in child_pids(proc.pid, WORKER):
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 2, err[-2000:]
    (line,) = err.strip().splitlines()
    assert re.match(r"^error: worker [01] was killed by SIGKILL \(", line), line
    assert line.endswith(
        "the study is not finished; run the same command again to resume it (finished "
        "trials are kept)"
    )
    (resume,) = [x for x in out.splitlines() if x.startswith("resume with:")]
    resume = shlex.split(resume.removeprefix("resume with:"))
    assert resume[:2] == ["ablate", "run"] and resume[-4:] == ["--n-trials", "3", "--workers", "2"]
    _cli(resume[1:])
    check_budget_and_tracking(workdir, None, 3)
