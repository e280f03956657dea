"""Shared by the study, tracking and CLI tests: tiny studies run for real.

Real Optuna storages, a real MLflow sqlite store and real ``ablate`` processes; only the
model and data are shrunk (TINY) so that a trial takes seconds on one CPU thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from ablate.cli.main import main
from tests import servers

TINY = [
    "train.epochs=1", "model.dim=32", "model.depth=1", "model.heads=2", "model.dim_head=16",
    "model.mlp_dim=32", "data.n_mels=32", "data.frames=32", "protocol.max_folds=1",
    "train.threads=1",
]  # fmt: skip
STUDY = """\
name: tiny
model: {{patching: vertical}}
space:
  model.pos_encoding: {{choice: [coordinate, none]}}
{extra}
optuna: {{sampler: grid}}
"""
#: a second swept key: a grid of 4 distinct arms
SEEDS = "  train.seed: {choice: [0, 1]}"
ENTRY = "from ablate.cli.main import main; main()"


def _study(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(extra=extra))
    return path


def _cli(args) -> None:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def _storage(tmp_path: Path, storage=None):
    """The default sqlite storage of study 'tiny' under ``tmp_path``, or ``storage``."""
    if storage is None:
        return f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'optuna.db'}"
    if isinstance(storage, str) and storage.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(storage.removeprefix("journal://"))
        return optuna.storages.JournalStorage(backend)
    return storage


def study_error(tmp_path: Path, text: str, capsys, *overrides: str) -> str:
    """`ablate run study.yaml OVERRIDES` on a study file holding ``text``, in ``tmp_path``:
    exit 2 before anything is made (no run dir); its stderr."""
    (tmp_path / "study.yaml").write_text(text)
    with contextlib.chdir(tmp_path), pytest.raises(SystemExit) as caught:
        main(["run", "study.yaml", *overrides, "--run-dir", str(tmp_path / "runs")])
    assert caught.value.code == 2
    assert not (tmp_path / "runs").exists()
    return capsys.readouterr().err


def _one_line_error(args, capsys, seconds: float = 30) -> str:
    """``ablate ARGS`` fails within ``seconds`` (before any training): exit 2, one line."""
    started = time.monotonic()
    with pytest.raises(SystemExit) as caught:
        main([str(a) for a in args])
    assert caught.value.code == 2
    assert time.monotonic() - started < seconds
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _trials(tmp_path: Path, storage=None) -> list[optuna.trial.FrozenTrial]:
    storage = _storage(tmp_path, storage)
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def no_trials(tmp_path: Path, storage=None) -> bool:
    """No trial of study 'tiny' was started (its storage or study may not exist at all)."""
    if storage is None and not (tmp_path / "runs" / "tiny" / "optuna.db").exists():
        return True
    summaries = optuna.get_all_study_summaries(_storage(tmp_path, storage))
    return all(s.n_trials == 0 for s in summaries)


def _children(tmp_path: Path, tracking: str | None = None):
    """(client, parent runs, trial runs) of experiment 'tiny' in ``tmp_path/mlflow.db``, or
    in the ``tracking`` store (the fold runs nested under trial runs are left out)."""
    client = MlflowClient(tracking or f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    ids = {p.info.run_id for p in parents}
    return client, parents, [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]


def drop_file_permission_override() -> None:
    """In a child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so that even root is refused what file permissions refuse."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def _ablate(args, cwd, **kwargs) -> subprocess.Popen:
    """``ablate ARGS`` as a real process."""
    return subprocess.Popen([sys.executable, "-c", ENTRY, *map(str, args)], cwd=cwd, **kwargs)


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc=None) -> None:
    """Poll ``check`` (exceptions count as not yet) until true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            said = proc.stderr.read()[-2000:] if proc.stderr else ""  # the reason, when piped
            raise AssertionError(
                f"process exited ({proc.returncode}) while waiting for {what}: {said}"
            )
        try:
            if check():
                return
        except Exception:  # storage or study not created yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def fresh_mlflow(template: Path, tmp_path: Path) -> None:
    """Copy an empty, migrated MLflow sqlite store to ``tmp_path/mlflow.db``.

    Creating the schema takes ~10 s on a busy machine; it is created once per session.
    """
    shutil.copy(template, tmp_path / "mlflow.db")


def make_template(directory: Path) -> Path:
    path = directory / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def child_pids(parent: int, *words: bytes) -> list[int]:
    """The processes whose parent is ``parent`` and whose command line holds ``words``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{pid}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read()
            if ppid == parent and all(word in argv for word in words):
                found.append(int(pid))
    return sorted(found)


def lines_of(stream) -> queue.Queue:
    """A text stream's lines, read by a thread (so that waits on them can be bounded)."""
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An empty, migrated MLflow sqlite store, created once per test session."""
    return make_template(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def workdir(tmp_path, monkeypatch, mlflow_template):
    """``tmp_path`` as the working directory, with an empty MLflow store in it."""
    monkeypatch.chdir(tmp_path)
    fresh_mlflow(mlflow_template, tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL cluster for the session; skipped where PostgreSQL or its
    driver is missing (tests/servers.py)."""
    why = servers.available()
    if why:
        pytest.skip(why)
    with servers.cluster() as server:
        yield server


@pytest.fixture
def postgres(pg_server, request):
    """A new, empty database on the session's cluster; its SQLAlchemy URL."""
    return pg_server.create(f"t{os.getpid()}_{abs(hash(request.node.nodeid)):x}")


@pytest.fixture
def tracking_server(tmp_path):
    """A real `mlflow server` on a SQLite store in ``tmp_path/server``; its URL."""
    folder = tmp_path / "server"
    folder.mkdir()
    server = servers.MlflowServer(folder)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def check_budget_and_tracking(tmp_path, storage, n_trials: int, tracking=None) -> None:
    """Exactly ``n_trials`` verdicts; one finished MLflow child per counted trial, no
    duplicates, none left RUNNING; trials over budget were discarded untrained."""
    trials = _trials(tmp_path, storage)
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == n_trials, [(t.number, t.state.name) for t in trials]
    assert len({tuple(sorted(t.params.items())) for t in counted}) == n_trials
    tracked = [t for t in trials if "mlflow_run_id" in t.user_attrs]
    assert not [t for t in tracked if t.user_attrs.get("discarded")]
    _, parents, children = _children(tmp_path, tracking)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    numbers = Counter(c.data.tags["ablate.trial"] for c in children)
    assert max(numbers.values()) == 1  # every trial tracked once
    assert len(children) == len(tracked)
    assert {c.info.run_id for c in children} == {t.user_attrs["mlflow_run_id"] for t in tracked}
    finished = {c.data.tags["ablate.trial"] for c in children if c.info.status == "FINISHED"}
    assert finished == {str(t.number) for t in counted}
    assert all(c.info.status != "RUNNING" for c in children)


ALLOCATOR_PROBE = Path(__file__).resolve().parent / "allocator_probe"


def probe_allocator(monkeypatch, probe_dir: Path, **env: str) -> None:
    """Python processes started from now on write ``ablate.allocator.probe()`` at exit to
    ``probe_dir`` (tests/allocator_probe/sitecustomize.py); no malloc or OpenMP setting is
    inherited from this process."""
    probe_dir.mkdir(exist_ok=True)
    for key in [k for k in os.environ if k.startswith("MALLOC_")] + ["GLIBC_TUNABLES"]:
        monkeypatch.delenv(key, raising=False)
    for key in ("ABLATE_MALLOC", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    path = os.pathsep.join(filter(None, [str(ALLOCATOR_PROBE), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("ABLATE_PROBE_DIR", str(probe_dir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def allocator_probes(probe_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(probe_dir.glob("*.json"))]


#: a batch augment that holds trial ``at`` at its start (its MLflow run open, before any
#: epoch) until the test opens the gate, so that a signal or a fault lands inside that trial
#: however fast or slow the machine
GATE = """
    import contextlib, sqlite3, time
    from pathlib import Path
    from ablate import hookimpl
    from ablate.contracts import BatchAugment

    class Gate(BatchAugment):
        def __init__(self, _context, storage: str = "", folder: str = "", at: int = 1):
            query = "select count(*) from trials where number = ? and state = 'RUNNING'"
            try:  # the dry run before the study's storage exists passes; closed at once,
                # so that no read lock is held on the study's storage while the trial waits
                reader = sqlite3.connect(f"file:{storage}?mode=ro", uri=True)
                with contextlib.closing(reader):
                    (held,) = reader.execute(query, (at,)).fetchone()
            except sqlite3.OperationalError:
                held = 0
            opened = Path(folder, "open")
            if held and not opened.exists():
                Path(folder, "waiting").touch()
                while not opened.exists():
                    time.sleep(0.05)

        def __call__(self, x, y, generator):
            return x, y

    @hookimpl
    def register_augments(register):
        register("gate", Gate, "hold trial `at` at its start until the test opens the gate")
    """


class Gate:
    """Holds trial ``at`` of the study ``tiny`` run in ``workdir`` until :meth:`open`."""

    def __init__(self, workdir: Path, folder: Path, at: int):
        self.workdir, self.folder, self.at = workdir, folder, at

    def study(self, extra: str = "") -> Path:
        """The tiny study with the gate among its augments."""
        storage = self.workdir / "runs" / "tiny" / "optuna.db"
        args = f"{{storage: '{storage}', folder: '{self.folder}', at: {self.at}}}"
        return _study(
            self.workdir, f"{extra}\ndata: {{augment: [gate], augment_args: {{gate: {args}}}}}"
        )

    def wait(self, proc: subprocess.Popen) -> None:
        """Until trial ``at`` is held (fail if ``proc`` exits first)."""
        wait_for((self.folder / "waiting").exists, 240, f"trial {self.at}", proc)

    def open(self) -> None:
        (self.folder / "open").touch()


@pytest.fixture
def gate(workdir, plugin_module, tmp_path_factory) -> Callable[[int], Gate]:
    """``gate(at)``: a :class:`Gate` on trial ``at``, its plugin registered."""
    plugin_module("gate", GATE)
    return lambda at: Gate(workdir, tmp_path_factory.mktemp("gate"), at)
