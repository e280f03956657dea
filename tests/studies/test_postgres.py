"""The multi-machine setup: a real PostgreSQL server as Optuna storage, two `ablate run`
processes (as two machines would) on it. Started by the test on a free loopback port in a
temporary folder; skipped with the reason where PostgreSQL or its driver is missing."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from study_helpers import SEEDS, TINY, _ablate, _study, check_budget_and_tracking, free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>; yields a SQLAlchemy URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl): apt-get install postgresql")
    psycopg = pytest.importorskip(
        "psycopg", reason="no PostgreSQL driver: pip install 'ablate[postgres]'"
    )
    # postgres refuses to run as root: run it as 'nobody' in a folder nobody owns
    root = Path(tempfile.mkdtemp(prefix="ablate-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chown(root, 65534, 65534)
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = root / "data", free_port()
    try:
        subprocess.run(
            [*as_user, initdb, "-D", data, "-U", "ablate", "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-o", options, "-l", root / "log", "-w", "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=ablate dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE optuna")
            conn.execute("CREATE DATABASE race")
        yield f"postgresql://ablate@127.0.0.1:{port}/optuna"
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{exc.cmd[len(as_user)]}: {exc.stderr.decode()[-500:]}")
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_two_machines_on_one_postgres_storage_keep_the_budget(workdir, postgres):
    study = _study(workdir, SEEDS)
    machines = []
    for name in ("machine-a", "machine-b"):  # separate processes, run dirs and logs
        log = (workdir / f"{name}.log").open("w")
        args = ["run", study, *TINY, "--storage", postgres, "--n-trials", 3, "--run-dir", name]
        machines.append((_ablate(args, workdir, stdout=log, stderr=subprocess.STDOUT), log))
    for proc, log in machines:
        try:
            proc.wait(timeout=300)
        finally:
            proc.kill()
            log.close()
    logs = [(workdir / f"{name}.log").read_text() for name in ("machine-a", "machine-b")]
    assert [proc.returncode for proc, _ in machines] == [0, 0], logs
    assert all("started:" in log for log in logs)  # both machines trained
    check_budget_and_tracking(workdir, postgres, 3)


def test_processes_starting_together_on_an_empty_database_all_open_it(postgres):
    """Four processes on an empty database with Optuna alone: 3 of 4 raised UniqueViolation
    while creating its tables (found by the two-machine test). Threads race the same way."""
    from concurrent.futures import ThreadPoolExecutor

    from ablate.studies.storage import open_storage

    url = postgres.rsplit("/", 1)[0] + "/race"
    with ThreadPoolExecutor(4) as pool:
        storages = list(pool.map(lambda _: open_storage(url), range(4)))
    assert all(s.get_all_studies() == [] for s in storages)
