"""Several worker processes on one study: SQLite and journal-file storage (PostgreSQL in
test_postgres.py). The budget holds exactly and every counted trial has one MLflow run."""

from __future__ import annotations

from collections import Counter

import pytest
from study_helpers import SEEDS, TINY, _children, _cli, _study, _trials


def check_budget_and_tracking(tmp_path, storage, n_trials: int) -> None:
    """Exactly ``n_trials`` verdicts; one finished MLflow child per counted trial, no
    duplicates, none left RUNNING; trials over budget were discarded untrained."""
    trials = _trials(tmp_path, storage)
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == n_trials, [(t.number, t.state.name) for t in trials]
    assert len({tuple(sorted(t.params.items())) for t in counted}) == n_trials
    tracked = [t for t in trials if "mlflow_run_id" in t.user_attrs]
    assert not [t for t in tracked if t.user_attrs.get("discarded")]
    _, parents, children = _children(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    numbers = Counter(c.data.tags["ablate.trial"] for c in children)
    assert max(numbers.values()) == 1  # every trial tracked once
    assert len(children) == len(tracked)
    assert {c.info.run_id for c in children} == {t.user_attrs["mlflow_run_id"] for t in tracked}
    finished = {c.data.tags["ablate.trial"] for c in children if c.info.status == "FINISHED"}
    assert finished == {str(t.number) for t in counted}
    assert all(c.info.status != "RUNNING" for c in children)


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


@pytest.mark.parametrize(("kind", "workers"), [("sqlite", 2), ("journal", 3)])
def test_workers_share_one_storage_and_respect_the_budget(workdir, kind, workers):
    _run_workers(workdir, kind, workers)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "workers"), [("sqlite", 3), ("journal", 2)])
def test_workers_share_one_storage_and_respect_the_budget_more(workdir, kind, workers):
    _run_workers(workdir, kind, workers)
