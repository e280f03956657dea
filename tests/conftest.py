"""Shared fixtures. Entry-point autoloading stays on: the built-ins arrive through it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EMODB = REPO.parent / "shared" / "data" / "emodb"


@pytest.fixture
def emodb_root() -> Path:
    """The real 408-file EmoDB subset shared beside the repository (skips if absent)."""
    if not (EMODB / "wav").is_dir():
        pytest.skip(f"real EmoDB subset not found at {EMODB}")
    return EMODB


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes features and synthetic audio to a private cache."""
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ablate-cache"))
