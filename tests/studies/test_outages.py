"""A process stopped past the heartbeat grace, a storage server down for a few seconds, a
study finished while another process still trains: real processes, a real PostgreSQL
server (tests/servers.py), a real MLflow store."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from study_helpers import (
    SEEDS,
    TINY,
    _ablate,
    _children,
    _cli,
    _study,
    _trials,
    check_budget_and_tracking,
    wait_for,
)

from ablate.studies.storage import GRACE_ENV

#: multi-process fault runs of 20-40 s each: `pytest -m slow` runs them
pytestmark = pytest.mark.slow

#: a few seconds per trial, so that a signal or an outage lands inside one
LONG = "train.epochs=40"
WORKER = b"--multiprocessing-fork"
PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}


def _training(tmp_path, storage=None, count: int = 1) -> bool:
    """``count`` trials are training (RUNNING, their MLflow run open)."""
    trials = _trials(tmp_path, storage)
    return sum(t.state.name == "RUNNING" and "mlflow_run_id" in t.user_attrs for t in trials) >= (
        count
    )


def test_a_process_stopped_past_the_grace_drops_its_reaped_trial(
    workdir, monkeypatch, postgres, tracking_server
):
    """Before: after SIGCONT the stopped process trained on, wrote test_uar_mean onto the
    run the other process had marked KILLED, and exited 2 with `AssertionError: Should not
    reach.` blamed on the storage. On servers (PostgreSQL, an MLflow server), as the issue
    found it: a process stopped inside a write to a SQLite store would hold its lock."""
    monkeypatch.setenv(GRACE_ENV, "4")  # heartbeats every second, reaped after 4 s
    args = ["run", _study(workdir), *TINY, LONG, "--storage", postgres]
    args += ["--tracking-uri", tracking_server]
    stopped = _ablate(args, workdir, **PIPES)
    try:
        wait_for(lambda: _training(workdir, postgres), 240, "a trial training", stopped)
        (victim,) = [t for t in _trials(workdir, postgres) if t.state.name == "RUNNING"]
        stopped.send_signal(signal.SIGSTOP)
        time.sleep(5)  # past the grace
        other = _ablate(args, workdir, **PIPES)  # reaps it, retries it, runs the rest
        _, err = other.communicate(timeout=300)
        assert other.returncode == 0, err[-2000:]
        stopped.send_signal(signal.SIGCONT)
        _, err = stopped.communicate(timeout=300)
    finally:
        stopped.kill()
        stopped.wait()
    assert stopped.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "Should not reach" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("warning: trial")]
    assert line.startswith(
        f"warning: trial {victim.number} was taken over by another process (FAIL, retried there)"
    )
    client, _, _ = _children(workdir, tracking_server)
    run = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert "test_uar_mean" not in run.data.metrics  # nothing written on the KILLED run
    trials = _trials(workdir, postgres)
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state.name == "COMPLETE"
    assert [t.state.name for t in trials if t.number == victim.number] == ["FAIL"]
    check_budget_and_tracking(workdir, postgres, 2, tracking_server)


#: two arms: trial 0 takes the long one (the grid's shuffled order), the other is short
LONG_AND_SHORT = """\
name: tiny
model: {patching: vertical}
space:
  train.epochs: {choice: [3, 300]}
optuna: {sampler: grid}
"""


def test_a_study_finished_while_another_process_trains_says_so(workdir):
    """Before: the command exited 0 at 1/2 without a word about the trial still training
    elsewhere, and listed the killed trial as FAIL, as if it had failed and counted."""
    study = workdir / "study.yaml"
    study.write_text(LONG_AND_SHORT)
    args = ["run", study, *(a for a in TINY if not a.startswith("train.epochs"))]
    first = _ablate(args, workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _training(workdir), 240, "trial 0 training", first)
    finally:
        first.kill()  # trial 0 interrupted: not counted, retried
        first.wait()
    slow = _ablate(args, workdir, **PIPES)  # retries trial 0 (300 epochs) as trial 1
    try:
        wait_for(
            lambda: any(
                t.user_attrs.get("retry_of") == 0
                and t.state.name == "RUNNING"
                and "mlflow_run_id" in t.user_attrs
                for t in _trials(workdir)
            ),
            240,
            "the retry training",
            slow,
        )
        fast = _ablate(args, workdir, **PIPES)  # trains trial 2 (3 epochs), done first
        out, err = fast.communicate(timeout=300)
        assert slow.poll() is None, "the long trial ended first: nothing was running"
        assert fast.returncode == 0, err[-2000:]
        assert re.search(
            r"^note: 1/2 trials done; trial 1 is still running in another process, which "
            r"finishes the study$",
            out,
            re.M,
        ), out
        text = " ".join(out.split())  # the rows, stacked (too wide for 80 columns)
        assert re.search(r"\b0 state: INTERRUPTED .*? note: not counted: retried as trial 1 ", text)
        running = "1 state: RUNNING train.epochs: 300 note: still running elsewhere"
        assert f"{running} (pid {slow.pid} on " in text, text
        assert "2 state:" not in text  # a finished trial is in the answer, not in the rows
        assert {t.number for t in _trials(workdir) if t.state.name == "COMPLETE"} == {2}
        _, err = slow.communicate(timeout=600)
        assert slow.returncode == 0, err[-2000:]
    finally:
        slow.kill()
        slow.wait()
    check_budget_and_tracking(workdir, None, 2)


def test_a_storage_server_down_for_seconds_loses_no_finished_training(workdir, pg_server):
    """PostgreSQL stopped for 15 s while two workers train (they finish meanwhile).
    Before: the parent's progress poll printed 4 chained tracebacks; each worker said
    `UnboundLocalError: cannot access local variable 'updated_state'`, threw its finished
    training away and left its trial RUNNING."""
    storage = pg_server.create("outage")
    args = ["run", _study(workdir, SEEDS), *TINY, LONG, "--workers", 2, "--n-trials", 3]
    proc = _ablate([*args, "--storage", storage], workdir, **PIPES)
    try:
        wait_for(lambda: _training(workdir, storage, count=2), 240, "two trials training", proc)
        training = {t.number for t in _trials(workdir, storage) if t.state.name == "RUNNING"}
        pg_server.stop()
        time.sleep(15)
        pg_server.start()
        out, err = proc.communicate(timeout=400)
    finally:
        proc.kill()
        proc.wait()
        if pg_server.stopped():
            pg_server.start()
    logs = "".join(p.read_text() for p in (workdir / "runs" / "tiny" / "workers").glob("*.log"))
    assert "Traceback" not in err + logs and "UnboundLocalError" not in logs
    assert proc.returncode in (0, 2), err[-2000:]
    if proc.returncode == 2:  # a call between trials met the outage: one line, resumable
        assert len(err.strip().splitlines()) == 1, err
        assert "resume with:" in out
    trials = _trials(workdir, storage)
    assert not [t.number for t in trials if t.state.name == "RUNNING"]
    # the trials that were training when the server went down finished and were recorded
    assert {t.number for t in trials if t.state.name == "COMPLETE"} >= training
    _cli([*args, "--storage", storage])  # the same command finishes the study if need be
    check_budget_and_tracking(workdir, storage, 3)
