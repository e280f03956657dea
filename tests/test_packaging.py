"""Every folder of Python modules in ablate/ and plugins/ is a package that pip installs."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_folder_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        p.parent.relative_to(ROOT)
        .as_posix()
        .replace("/", ".")
        .replace("plugins", "ablate_plugins", 1)
        for p in [*(ROOT / "ablate").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
        if "__pycache__" not in p.parts
    }
    assert folders <= listed, sorted(folders - listed)
