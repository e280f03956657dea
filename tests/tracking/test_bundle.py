"""A committed store on a fresh clone: artifacts beside it under a relative location, old
trials brought up to date from their own metrics, the comparison unchanged."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest
from mlflow import MlflowClient
from store_helpers import PE, RESULTS

from ablate.cli.ui_cmd import server_folder
from ablate.tracking import arms_table
from ablate.tracking import compare as verdicts
from ablate.tracking.bundle import relocate, upgrade
from ablate.tracking.mlflow_store import Store


def _trials(uri: str, key: str):
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(
        experiments, f"tags.`ablate.study_key` = '{key}' and tags.`ablate.kind` = 'study'"
    )
    query = f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    return parent, client.search_runs([parent.info.experiment_id], query)


@pytest.mark.parametrize("name", ["emodb-h200", "emodb-cpu", "ravdess-cpu"])
def test_a_committed_store_shows_its_artifacts_on_a_fresh_clone(tmp_path, name):
    """Its artifacts pointed at /work/main/mlruns or /tmp/ev: "No Artifacts Recorded"."""
    shutil.copy(RESULTS / f"{name}.db", tmp_path)
    shutil.copytree(RESULTS / f"{name}-artifacts", tmp_path / f"{name}-artifacts")
    uri = f"sqlite:///{tmp_path / name}.db"
    assert server_folder(uri) == tmp_path  # where `ablate ui` starts the MLflow server
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    finished = [r for r in runs if r.data.tags.get("ablate.kind") == "trial"
                and r.info.status == "FINISHED"]  # fmt: skip
    assert finished
    for run in finished:
        assert not run.info.artifact_uri.startswith("/")
        files = {p.name for p in (tmp_path / run.info.artifact_uri).iterdir()}
        assert {"config.yaml", "folds.json"} <= files
    answered = {r.data.tags["mlflow.parentRunId"] for r in finished}  # a study stopped
    for run in (r for r in runs if r.info.run_id in answered):  # before any trial has none
        compare = tmp_path / run.info.artifact_uri / "compare"
        assert {p.name for p in compare.iterdir()} == {"compare.md", "compare.csv", "compare.png"}


@pytest.mark.slow  # the whole GPU store, migrated and compared: about 20 s
def test_an_old_store_is_brought_up_to_date_from_its_metrics_and_compares_the_same(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(RESULTS / "emodb-h200.db", db)
    with sqlite3.connect(db) as con:  # as it was committed: no kind, artifacts elsewhere
        con.execute("delete from tags where key = 'ablate.kind' and value = 'trial'")
        con.execute("update runs set artifact_uri = '/work/main/mlruns/gone'")
    uri = f"sqlite:///{db}"
    before = [str(r) for r in arms_table.rows(verdicts.analyse(Store(uri), [PE]))]
    with sqlite3.connect(db) as con:
        finished = {
            r for (r,) in con.execute("select run_uuid from runs where status = 'FINISHED'")
        }
    assert set(upgrade(db)) == finished  # every finished run's artifacts lost, and said so
    after = arms_table.rows(verdicts.analyse(Store(uri), [PE]))
    assert [str(r) for r in after] == before
    parent, trials = _trials(uri, PE)
    assert parent.data.tags["ablate.top_arm"] == after[0]["arm"]
    assert (
        "| arm | test_uar [95% CI] | diff [95% CI] | verdict | MDE |"
        in (parent.data.tags["mlflow.note.content"])
    )
    for trial in trials:
        assert trial.data.tags["ablate.kind"] == "trial" and "3 seeds (trial" in trial.info.run_name
        assert trial.info.artifact_uri.startswith("old-artifacts/")
        if trial.info.status == "FINISHED":
            files = {p.name for p in (tmp_path / trial.info.artifact_uri).iterdir()}
            assert files == {"config.yaml", "folds.json", "learning_curves.png"}
            assert "not made up" in trial.data.tags["mlflow.note.content"]
            assert trial.data.metrics["test_uar_ci95_low"] < trial.data.metrics["test_uar_mean"]
    again = set(upgrade(db))  # again: nothing changes, nothing breaks
    rebuilt = {t.info.run_id for t in trials if t.info.status == "FINISHED"}
    assert again < finished and not again & rebuilt  # what was rebuilt is no longer missing
    assert [str(r) for r in arms_table.rows(verdicts.analyse(Store(uri), [PE]))] == before


def test_bundling_names_the_runs_whose_artifacts_are_lost(tmp_path):
    """A store whose mlruns/ was lost bundled as if complete. Not counted as lost: the
    pooled answers' arm runs (numbers only) and the fold runs (their weights left out)."""
    name = "emodb-recipe-cpu"
    shutil.copy(RESULTS / f"{name}.db", tmp_path)
    shutil.copytree(RESULTS / f"{name}-artifacts", tmp_path / f"{name}-artifacts")
    db = tmp_path / f"{name}.db"
    assert relocate(db) == (f"{name}-artifacts", [])
    with sqlite3.connect(db) as con:
        (run, where) = con.execute(
            "select run_uuid, artifact_uri from runs where status = 'FINISHED' and run_uuid in "
            "(select run_uuid from tags where key = 'ablate.kind' and value = 'trial') limit 1"
        ).fetchone()
    shutil.rmtree(tmp_path / where)
    assert relocate(db) == (f"{name}-artifacts", [run])


def test_bundling_a_missing_store_is_one_line_and_creates_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ablate.tracking.bundle", str(tmp_path / "typo.db")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == f"error: {tmp_path / 'typo.db'}: no such SQLite store file\n"
    assert list(tmp_path.iterdir()) == []
