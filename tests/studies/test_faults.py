"""Faults, for real: a killed or interrupted study process, a full or unwritable disk, an
unreachable tracking server, a trial that runs out of memory. Real processes, real Optuna
storage, a real MLflow store."""

from __future__ import annotations

import contextlib
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import threading

import pytest
from study_helpers import (
    SEEDS,
    TINY,
    _ablate,
    _children,
    _cli,
    _one_line_error,
    _study,
    _trials,
    free_port,
    no_trials,
)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _interrupted_trial(tmp_path):
    """The one trial that was training when the process stopped: (number, mlflow run id)."""
    (trial,) = [t for t in _trials(tmp_path) if t.state.name == "RUNNING"]
    return trial.number, trial.user_attrs["mlflow_run_id"]


def _check_resumed(tmp_path, killed: int, killed_run: str, finished_before: set[int], n: int):
    trials = _trials(tmp_path)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == n, [(t.number, t.state.name) for t in trials]
    assert finished_before <= {t.number for t in complete}  # nothing finished was lost
    assert len({tuple(sorted(t.params.items())) for t in complete}) == n  # no arm twice
    (victim,) = [t for t in trials if t.number == killed]
    assert victim.state.name == "FAIL" and not victim.user_attrs.get("counted")
    retries = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert [t.state.name for t in retries] == ["COMPLETE"]
    assert retries[0].params == victim.params
    client, parents, children = _children(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert all(c.info.status != "RUNNING" for c in children)
    assert sum(c.info.status == "FINISHED" for c in children) == n
    run = client.get_run(killed_run)
    assert run.info.status == "KILLED"
    return run


def test_sigkill_mid_trial_then_the_same_command_finishes_the_study(workdir, gate):
    held = gate(1)
    args = ["run", held.study(SEEDS), *TINY]
    proc = _ablate(args, workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        held.wait(proc)
        killed, killed_run = _interrupted_trial(workdir)
        finished = {t.number for t in _trials(workdir) if t.state.name == "COMPLETE"}
        proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: like a lost machine
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _trials(workdir)[killed].state.name == "RUNNING"  # left behind by the dead process
    held.open()
    _cli(args)  # the same command
    run = _check_resumed(workdir, killed, killed_run, finished, n=4)
    assert "stopped before the trial finished" in run.data.tags["ablate.fail_reason"]


#: (grid points, the trial killed, workers on resume): the second-to-last grid point used to
#: break the resume (``KeyError: 'grid_id'`` from Optuna's GridSampler once retried)
SLOW_KILLS = [(4, 2, 1), (4, 0, 1), (4, 1, 1), (4, 3, 1), (4, 2, 2), (2, 1, 1)]
GRID_KILLS = [
    (2, 0, 2),
    *(
        pytest.param(points, position, workers, marks=pytest.mark.slow)
        for points, position, workers in SLOW_KILLS
    ),
]


@pytest.mark.parametrize(("points", "position", "workers"), GRID_KILLS)
def test_a_kill_at_any_grid_point_resumes_to_the_whole_grid(
    workdir, gate, points, position, workers
):
    held = gate(position)
    args = ["run", held.study(SEEDS if points == 4 else ""), *TINY]
    proc = _ablate(args, workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        held.wait(proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed, killed_run = _interrupted_trial(workdir)
    assert killed == position
    finished = {t.number for t in _trials(workdir) if t.state.name == "COMPLETE"}
    held.open()
    _cli([*args, "--workers", workers])  # the same command; exits 0
    _check_resumed(workdir, killed, killed_run, finished, n=points)
    logs = (workdir / "runs" / "tiny" / "workers").glob("worker*.log")
    assert not [p for p in logs if "Traceback" in p.read_text()]


def test_ctrl_c_marks_the_trial_prints_how_to_resume_and_exits_130(workdir, gate, capsys):
    held = gate(1)
    study = held.study(SEEDS)
    proc = _ablate(
        ["run", study, *TINY, "--n-trials", 3],
        workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        held.wait(proc)
        finished = {t.number for t in _trials(workdir) if t.state.name == "COMPLETE"}
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err[-2000:]
    # the interrupted trial is marked at once, in Optuna and in MLflow
    trials = _trials(workdir)
    (stopped,) = [t for t in trials if t.state.name == "FAIL"]
    assert not [t for t in trials if t.state.name == "RUNNING"]
    client, _, _ = _children(workdir)
    run = client.get_run(stopped.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert "KeyboardInterrupt" in run.data.tags["ablate.fail_reason"]
    (line,) = [x for x in out.splitlines() if x.startswith("resume with:")]
    resume = shlex.split(line.removeprefix("resume with:"))
    assert resume == ["ablate", "run", str(study), *TINY, "--n-trials", "3"]
    assert "interrupted: finished trials are kept" in out
    # output to a pipe is plain lines: no ANSI escapes, no carriage-return progress bars
    assert not ANSI.search(out) and "\r" not in out
    assert "trial 0 started: model.pos_encoding=" in out
    # each epoch line names the seed it trains (a trial may train several, one after another)
    assert re.search(
        r"^trial \d+ seed [01] fold 0 train epoch \d+: loss [\d.]+( val UA [\d.]+)?$", out, re.M
    )
    assert re.search(r"^trial \d+ complete: test_uar_mean [\d.]+ \| 1/3 done", out, re.M)

    held.open()
    _cli(resume[1:])  # the printed command finishes the study
    _check_resumed(workdir, stopped.number, run.info.run_id, finished, n=3)
    out = capsys.readouterr().out
    # it starts from the trials already done (it used to say 0/3, and its ETA counted them)
    assert re.search(rf"^study tiny-[0-9a-f]{{10}}: {len(finished)}/3 trials done$", out, re.M)
    assert "resume with:" not in out, "a finished study has nothing to resume"
    assert re.search(r"^compare with: +ablate compare tiny-[0-9a-f]{10}$", out, re.M)


@contextlib.contextmanager
def _address_space_limit(extra_bytes: int):
    """Cap this process's address space at its current size plus ``extra_bytes``, so a
    huge allocation fails the same way on any machine (whatever its overcommit policy)."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_a_trial_out_of_memory_fails_with_the_reason_and_the_study_goes_on(workdir):
    # the second arm asks for a 32 x 4e9 float matrix: a genuine 512 GB allocation
    study = workdir / "oom.yaml"
    study.write_text(
        "name: tiny\nmodel: {patching: vertical}\n"
        "space:\n  model.mlp_dim: {choice: [32, 4000000000]}\noptuna: {sampler: grid}\n"
    )
    with _address_space_limit(8 << 30):
        _cli(["run", study, *(o for o in TINY if not o.startswith("model.mlp_dim="))])
    trials = {t.params["model.mlp_dim"]: t for t in _trials(workdir)}
    assert trials[32].state.name == "COMPLETE"
    huge = trials[4000000000]
    assert huge.state.name == "FAIL" and huge.user_attrs["counted"]
    reason = huge.user_attrs["fail_reason"]
    assert reason.startswith("out of memory in fold 0: ")
    assert "can't allocate memory" in reason
    _, parents, children = _children(workdir)
    (failed,) = [c for c in children if c.info.status == "FAILED"]
    assert failed.data.tags["ablate.fail_reason"] == reason
    assert parents[0].info.status == "FINISHED"  # the budget (2 verdicts) is used up


# -- problems found before any training ----------------------------------------------------


def test_a_run_dir_under_a_regular_file_is_one_line_before_training(workdir, capsys):
    (workdir / "file").write_text("not a folder")
    target = workdir / "file" / "sub"
    err = _one_line_error(["run", _study(workdir), *TINY, "--run-dir", target], capsys)
    assert err == f"error: run dir {target}: not writable (Not a directory)"
    assert not (workdir / "runs").exists()


@contextlib.contextmanager
def _tmpfs(mount, size: str):
    """A small tmpfs mounted at ``mount`` (created); skipped where mounting is not allowed."""
    mount.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder) -> None:
    """Write ``folder/filler`` until the disk is full."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs, filled up."""
    with _tmpfs(tmp_path / "disk", "256k") as mount:
        (mount / "runs").mkdir()
        _fill(mount)
        yield mount


def test_a_disk_full_while_the_summary_is_written_is_one_line_and_ends_the_run(workdir, capsys):
    """Before: a raw OSError traceback, and the study's run left RUNNING."""
    with _tmpfs(workdir / "mlruns", "16m") as artifacts:  # the sqlite store's artifacts
        args = ["run", _study(workdir), *TINY]
        _cli(args)  # the study, complete
        for summary in artifacts.glob("*/*/artifacts/study"):  # as if never written
            shutil.rmtree(summary)
        _fill(artifacts)
        capsys.readouterr()
        err = _one_line_error(args, capsys, seconds=120)  # the same command: the summary again
        assert err.startswith("error: tracking store sqlite:///mlflow.db: cannot write ")
        assert "(No space left on device); the study's summary was not written" in err
        _, parents, _ = _children(workdir)
        assert parents[0].info.status == "FINISHED"  # its trials are done; nothing RUNNING
        (artifacts / "filler").unlink()
        _cli(args)  # room again: the same command writes the summary


def test_a_full_disk_is_one_line_before_training(workdir, tiny_disk, capsys):
    run_dir = tiny_disk / "runs" / "tiny"
    err = _one_line_error(["run", _study(workdir), *TINY, "--run-dir", run_dir], capsys)
    assert err == f"error: run dir {run_dir}: disk full (No space left on device)"


def test_a_read_only_disk_is_one_line_before_training(workdir, tiny_disk, capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    run_dir = tiny_disk / "runs" / "tiny"
    err = _one_line_error(["run", _study(workdir), *TINY, "--run-dir", run_dir], capsys)
    assert err == f"error: run dir {run_dir}: not writable (Read-only file system)"


def test_an_unreachable_tracking_server_is_one_line_before_training(workdir, capsys):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    err = _one_line_error(["run", _study(workdir), *TINY, "--tracking-uri", uri], capsys)
    port = uri.rsplit(":", 1)[1]
    assert err == (
        f"error: tracking store {uri}: cannot connect to 127.0.0.1:{port} "
        "(Connection refused); is the MLflow server running?"
    )
    assert not (workdir / "runs" / "tiny" / "optuna.db").exists()


@pytest.fixture
def silent_server():
    """A TCP server on a free loopback port that accepts connections and never answers;
    its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])  # held open, never read or answered

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def test_a_tracking_server_that_never_answers_is_one_line_before_training(
    workdir, silent_server, capsys
):
    """Before: the connection probe passed and MLflow waited for an answer (120 s per
    request, 7 retries): the command hung with nothing printed."""
    err = _one_line_error(
        ["run", _study(workdir), *TINY, "--tracking-uri", silent_server], capsys, seconds=60
    )
    assert err.startswith(f"error: tracking store {silent_server}: 127.0.0.1:")
    assert "accepts connections but did not answer an HTTP request within 5 s" in err
    assert no_trials(workdir)


def test_an_unreachable_optuna_storage_is_one_line(workdir, capsys):
    url = f"postgresql://ablate@127.0.0.1:{free_port()}/ablate"
    pytest.importorskip("psycopg", reason="psycopg (the `postgres` extra) is not installed")
    err = _one_line_error(["run", _study(workdir), *TINY, "--storage", url], capsys)
    assert err.startswith(f"error: optuna storage {url}: (psycopg.OperationalError)")
    assert "Connection refused" in err
