"""The MLflow SQLite store under faults, for real: a first run killed (SIGKILL) or
interrupted (Ctrl-C) while the store is being created, a half-made store left by MLflow
itself, an old store holding runs, and lock files planted by someone else."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from study_helpers import lines_of

from ablate.cli.main import main
from ablate.tracking.mlflow_store import Store
from ablate.tracking.sqlite_store import _expected

NO_STUDY = "error: no study 'x' in sqlite:///mlflow.db; experiments: none"
#: what a first `ablate run` does to the store before anything else: open (create) it
CREATE = "from ablate.tracking.mlflow_store import Store; Store('sqlite:///mlflow.db')"
MIGRATING = "Updating database tables"  # MLflow's log line as the migrations start


def _interrupt_while_migrating(proc: subprocess.Popen, signum: int, delay: float) -> None:
    """Send ``signum`` ``delay`` s after the process says its migrations started."""
    lines = lines_of(proc.stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if MIGRATING in lines.get(timeout=0.5):
                break
        except queue.Empty:
            assert proc.poll() is None, "the process ended before migrating"
    else:
        raise AssertionError("no migration within 120 s")
    time.sleep(delay)
    assert proc.poll() is None, f"the migrations ended within {delay} s; nothing was cut short"
    proc.send_signal(signum)
    proc.wait(timeout=60)


@pytest.fixture
def compare(capsys, monkeypatch):
    """``compare(folder)``: `ablate compare x` there, which opens ./mlflow.db (it creates
    none: a missing one is an error) and finds no study; its stderr, after checking it
    exited 2."""

    def run(folder: Path) -> str:
        monkeypatch.chdir(folder)
        capsys.readouterr()
        with pytest.raises(SystemExit) as caught:
            main(["compare", "x"])
        err = capsys.readouterr().err
        assert caught.value.code == 2, err
        assert "Traceback" not in err
        return err

    return run


def _usable(path: Path) -> None:
    """A complete store at the current schema that takes an experiment, a run, a metric."""
    head, tables = _expected()
    with sqlite3.connect(path) as db:
        assert db.execute("select version_num from alembic_version").fetchone()[0] == head
        found = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert tables <= found and not [t for t in found if t.startswith("_alembic_tmp")]
    client = MlflowClient(f"sqlite:///{path}")
    run = client.create_run(client.create_experiment("after"))
    client.log_metric(run.info.run_id, "m", 1.0)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}


#: (signal, seconds after the migrations start); more points under -m slow
KILLS = [
    (signal.SIGKILL, 0.1),
    (signal.SIGINT, 0.4),
    *(
        pytest.param(signum, delay, marks=pytest.mark.slow)
        for signum, delay in [
            (signal.SIGKILL, 0.0),
            (signal.SIGKILL, 0.3),
            (signal.SIGKILL, 0.7),
            (signal.SIGINT, 0.0),
            (signal.SIGINT, 0.8),
        ]
    ),
]


@pytest.mark.parametrize(("signum", "delay"), KILLS, ids=[f"{s[0]}-{s[1]}" for s in KILLS])
def test_a_first_run_killed_while_creating_the_store_leaves_no_broken_store(
    tmp_path, compare, signum, delay
):
    proc = subprocess.Popen(
        [sys.executable, "-c", CREATE], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        _interrupt_while_migrating(proc, signum, delay)
    finally:
        proc.kill()
        proc.wait()
    store = tmp_path / "mlflow.db"
    if store.exists():  # the kill left no store or a complete one, never a half-made one
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            revision = db.execute("select version_num from alembic_version").fetchone()
        assert revision == (_expected()[0],)
    Store(f"sqlite:///{store}")  # the next command that writes (ablate run) creates it
    err = compare(tmp_path)  # and it works
    assert err.strip().splitlines()[-1] == NO_STUDY
    _usable(tmp_path / "mlflow.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mlflow.db.lock", "mlflow.db"]


def test_a_half_made_store_left_by_mlflow_itself_is_rebuilt_when_it_holds_nothing(
    tmp_path, compare
):
    # MLflow alone creates the store in place; kill it in the middle of its migrations
    code = "from mlflow import MlflowClient; MlflowClient('sqlite:///mlflow.db').search_runs(['0'])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        _interrupt_while_migrating(proc, signal.SIGKILL, 0.3)
    finally:
        proc.kill()
        proc.wait()
    with sqlite3.connect(tmp_path / "mlflow.db") as db:  # half-made indeed
        revision = db.execute("select version_num from alembic_version").fetchone()
    assert revision is None or revision[0] != _expected()[0]
    err = compare(tmp_path)
    (note,) = [line for line in err.splitlines() if line.startswith("note:")]
    assert note.startswith(f"note: {tmp_path / 'mlflow.db'} was left half-made (schema ")
    assert note.endswith("held no runs; rebuilding it")
    assert err.strip().splitlines()[-1] == NO_STUDY
    _usable(tmp_path / "mlflow.db")


def test_an_old_store_holding_runs_is_never_rebuilt_and_the_error_says_how_to_upgrade(
    tmp_path, mlflow_template, compare
):
    path = tmp_path / "mlflow.db"
    path.write_bytes(mlflow_template.read_bytes())
    client = MlflowClient(f"sqlite:///{path}")
    client.create_run(client.create_experiment("precious"))
    with sqlite3.connect(path) as db:  # as if an upgrade to this MLflow had been cut short
        db.execute("update alembic_version set version_num = '0a8213491aaa'")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert compare(tmp_path).strip() == (
        f"error: tracking store {path}: schema 0a8213491aaa, expected {_expected()[0]} (an "
        "interrupted upgrade, or another MLflow version), and it holds 1 runs in 1 experiments; "
        f"back it up, then run `mlflow db upgrade sqlite:///{path}`"
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_empty_store_file_is_rebuilt(tmp_path, compare):
    """What a power cut can leave of a store created without syncing."""
    (tmp_path / "mlflow.db").write_bytes(b"")
    assert compare(tmp_path).strip().splitlines()[-1] == NO_STUDY
    _usable(tmp_path / "mlflow.db")


def test_a_file_that_is_not_a_database_is_one_line(tmp_path, compare):
    (tmp_path / "mlflow.db").write_text("notes, not a database\n" * 100)
    assert compare(tmp_path).strip() == (
        f"error: tracking store {tmp_path / 'mlflow.db'}: not a usable SQLite database "
        "(file is not a database); move it away or pass another --tracking-uri"
    )


# -- lock files ------------------------------------------------------------------------------


def _old_lock(path: Path) -> Path:
    """Where ablate used to put the store's lock: a predictable name in the shared /tmp."""
    digest = hashlib.sha256(f"sqlite:///{path}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ablate-mlflow-{digest}.lock"


def test_a_lock_file_planted_as_a_symlink_never_touches_its_target(
    tmp_path, mlflow_template, compare
):
    """Another local user plants the lock path as a link to your store: it used to be
    truncated to an empty file. Now the link is refused in one line and nothing changes."""
    victim = tmp_path / "victim"
    victim.mkdir()
    store = victim / "mlflow.db"
    store.write_bytes(mlflow_template.read_bytes())
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    old = _old_lock(store)
    old.unlink(missing_ok=True)
    old.symlink_to(store)
    new = victim / ".mlflow.db.lock"
    new.symlink_to(store)
    try:
        err = compare(victim)
    finally:
        old.unlink()
    assert err.strip() == (
        f"error: lock file {new} is a symbolic link, not ablate's; remove it (it may have "
        "been planted by someone else) and run again"
    )
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    new.unlink()  # the way out works
    assert compare(victim).strip() == NO_STUDY
    assert (new.stat().st_mode & 0o777) == 0o600


def test_a_fifo_planted_at_the_lock_path_does_not_hang(tmp_path, mlflow_template, compare):
    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    os.mkfifo(tmp_path / ".mlflow.db.lock")
    assert compare(tmp_path).strip() == (
        f"error: lock file {tmp_path / '.mlflow.db.lock'} is not a regular file; "
        "remove it and run again"
    )


def test_a_complete_store_on_a_read_only_disk_is_still_read(tmp_path, mlflow_template, compare):
    """No lock file can be created there; a complete store needs none to be read."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (disk / "mlflow.db").write_bytes(mlflow_template.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert compare(disk).strip() == NO_STUDY
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
