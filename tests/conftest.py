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


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """``add(name, code)``: a plugin module ``name`` in ``tmp_path``, registered through
    ``ABLATE_PLUGINS`` in the process-wide registry (reloaded; restored afterwards)."""
    import sys
    import textwrap

    from ablate.plugins import get_registry

    names: list[str] = []

    def add(name: str, code: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        names.append(name)
        monkeypatch.setenv("ABLATE_PLUGINS", ",".join(names))
        get_registry.cache_clear()

    monkeypatch.syspath_prepend(str(tmp_path))
    yield add
    get_registry.cache_clear()
    for name in names:
        sys.modules.pop(name, None)
