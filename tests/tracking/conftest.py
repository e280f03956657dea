"""The committed stores, copied so nothing a test does can write to them."""

from __future__ import annotations

import shutil

import pytest
from store_helpers import RESULTS
from study_helpers import mlflow_template, workdir  # noqa: F401


@pytest.fixture(scope="session")
def gpu_store(tmp_path_factory) -> str:
    """A copy of docs/results/emodb-h200.db as a tracking URI."""
    path = tmp_path_factory.mktemp("stores") / "emodb-h200.db"
    shutil.copy(RESULTS / "emodb-h200.db", path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def recipe_store(tmp_path_factory) -> str:
    """A copy of docs/results/emodb-recipe-cpu.db as a tracking URI."""
    path = tmp_path_factory.mktemp("stores") / "emodb-recipe-cpu.db"
    shutil.copy(RESULTS / "emodb-recipe-cpu.db", path)
    return f"sqlite:///{path}"
