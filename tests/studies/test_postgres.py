"""The multi-machine setup: a real PostgreSQL server as Optuna storage, two `ablate run`
processes (as two machines would) on it. Started by the test on a free loopback port in a
temporary folder (tests/servers.py); skipped with the reason where PostgreSQL or its
driver is missing."""

from __future__ import annotations

import subprocess

from study_helpers import SEEDS, TINY, _ablate, _study, check_budget_and_tracking


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


def test_processes_starting_together_on_an_empty_database_all_open_it(pg_server):
    """Four processes on an empty database with Optuna alone: 3 of 4 raised UniqueViolation
    while creating its tables (found by the two-machine test). Threads race the same way."""
    from concurrent.futures import ThreadPoolExecutor

    from ablate.studies.storage import open_storage

    url = pg_server.create("race")
    with ThreadPoolExecutor(4) as pool:
        storages = list(pool.map(lambda _: open_storage(url), range(4)))
    assert all(s.get_all_studies() == [] for s in storages)
