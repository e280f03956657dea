"""The committed EmoDB stores, copied so nothing a test does can write to them, and their
per-fold scores read straight from MLflow (independently of ablate's own reader)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


@pytest.fixture(scope="session")
def gpu_store(tmp_path_factory) -> str:
    """A copy of docs/results/emodb-h200.db as a tracking URI."""
    path = tmp_path_factory.mktemp("stores") / "emodb-h200.db"
    shutil.copy(RESULTS / "emodb-h200.db", path)
    return f"sqlite:///{path}"


def raw_scores(uri: str, study_key: str, metric: str = "uar") -> dict[str, dict]:
    """``{swept tag: {(seed, fold): score}}`` of a study key's finished trials."""
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(
        experiments, f"tags.`ablate.study_key` = '{study_key}' and tags.`ablate.kind` = 'study'"
    )
    children = client.search_runs(
        experiments, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    pattern = re.compile(rf"^seed(\d+)/fold(\d+)/test_{metric}$")
    scores: dict[str, dict] = {}
    for run in children:
        if run.info.status != "FINISHED":
            continue
        arm = scores.setdefault(run.data.tags["ablate.swept"], {})
        for key, value in run.data.metrics.items():
            if match := pattern.match(key):
                arm[(int(match[1]), int(match[2]))] = value
    return scores
