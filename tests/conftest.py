"""Shared fixtures. Entry-point autoloading stays on: the built-ins arrive through it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: the real corpora shared beside the repository; ABLATE_SHARED_DATA points elsewhere (a
#: worktree whose parent folder has no shared/)
SHARED = Path(os.environ.get("ABLATE_SHARED_DATA") or REPO.parent / "shared" / "data")
EMODB = SHARED / "emodb"
RAVDESS = SHARED / "ravdess"


@pytest.fixture
def emodb_root() -> Path:
    """The real 408-file EmoDB subset shared beside the repository (skips if absent)."""
    if not (EMODB / "wav").is_dir():
        pytest.skip(f"real EmoDB subset not found at {EMODB}")
    return EMODB


@pytest.fixture
def ravdess_root() -> Path:
    """The real 1,200-file RAVDESS speech subset shared beside the repository (skips if
    absent)."""
    if not (RAVDESS / "Actor_01").is_dir():
        pytest.skip(f"real RAVDESS subset not found at {RAVDESS}")
    return RAVDESS


@pytest.fixture
def ravdess_copy(ravdess_root, tmp_path):
    """``ravdess_copy(actors)``: 8 real RAVDESS files of each actor (all 8 emotions, both
    intensities and both statements) in RAVDESS's layout under a temporary root."""

    def copy(actors) -> Path:
        root = tmp_path / "ravdess"
        for actor in actors:
            for emotion in range(1, 9):
                intensity = "01" if emotion in (1, 3, 5, 7) else "02"
                statement = "01" if emotion <= 4 else "02"
                name = f"03-01-{emotion:02d}-{intensity}-{statement}-01-{actor}.wav"
                target = root / f"Actor_{actor}" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ravdess_root / f"Actor_{actor}" / name, target)
        return root

    return copy


@pytest.fixture
def ravdess_few(ravdess_copy) -> Path:
    """16 real RAVDESS files: actors 01 and 02 (male, female), 8 each."""
    return ravdess_copy(("01", "02"))


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
