"""Several worker processes on one study: SQLite and journal-file storage (PostgreSQL in
test_postgres.py). The budget holds exactly and every counted trial has one MLflow run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from study_helpers import (
    SEEDS,
    TINY,
    _cli,
    _study,
    allocator_probes,
    check_budget_and_tracking,
    probe_allocator,
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
