"""Real servers for the tests and benchmarks/chaos_soak.py, each on a free loopback port and
restartable (an outage): a throw-away PostgreSQL cluster in a temporary folder (PostgreSQL
refuses to run as root, so as root it runs as 'nobody' in a folder nobody owns), and an
`mlflow server` on a SQLite store."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin(name: str) -> str | None:
    """A PostgreSQL program on PATH or under /usr/lib/postgresql/*/bin (newest)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """One cluster: ``url(db)``, ``create(db)``, ``stop()``, ``start()``."""

    def __init__(self, root: Path):
        self.root, self.data, self.port = root, root / "data", _free_port()
        self.as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        self.pg_ctl = pg_bin("pg_ctl")

    def _run(self, *args, timeout: float = 120) -> None:
        subprocess.run(
            [*self.as_user, *map(str, args)], check=True, capture_output=True, timeout=timeout
        )

    def init(self) -> None:
        self._run(pg_bin("initdb"), "-D", self.data, "-U", "ablate", "-A", "trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            self.pg_ctl, "-D", self.data, "-o", options, "-l", self.root / "log", "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", self.data, "-m", mode, "-w", "stop", timeout=60)

    def stopped(self) -> bool:
        return not (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgresql://ablate@127.0.0.1:{self.port}/{database}"

    def create(self, database: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=ablate dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)


def available() -> str | None:
    """Why no cluster can be started here, or None."""
    if not (pg_bin("initdb") and pg_bin("pg_ctl")):
        return "PostgreSQL is not installed (no initdb/pg_ctl): apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "no PostgreSQL driver: pip install 'ablate[postgres]'"
    return None


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A running cluster, removed afterwards (stopped at once, whatever state it is in)."""
    root = Path(tempfile.mkdtemp(prefix="ablate-pg-"))
    if os.geteuid() == 0:
        os.chown(root, 65534, 65534)
    pg = Cluster(root)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        subprocess.run(
            [*pg.as_user, pg.pg_ctl, "-D", pg.data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


class MlflowServer:
    """`mlflow server` on a SQLite store and an artifact folder in ``folder``: ``url``,
    ``start()``, ``stop()``."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = folder, _free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--workers", "1"]
        argv += ["--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}"]
        argv += ["--artifacts-destination", str(self.folder / "artifacts")]
        with (self.folder / "mlflow-server.log").open("a") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the MLflow server did not start within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
