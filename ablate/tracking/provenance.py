"""Where a result came from: git commit, package versions, host and Python."""

from __future__ import annotations

import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchaudio", "optuna", "mlflow", "ablate")


def git_state(path: str | Path = ".") -> tuple[str, bool]:
    """(commit, dirty) of the git repository around ``path``; ("unknown", False) outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return commit, dirty


def versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on ("missing" if absent)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def provenance_tags(path: str | Path = ".") -> dict[str, str]:
    """All of the above as MLflow tags under ``ablate.*``."""
    commit, dirty = git_state(path)
    tags = {
        "ablate.git_commit": commit,
        "ablate.git_dirty": str(dirty).lower(),
        "ablate.host": socket.gethostname(),
        "ablate.python": platform.python_version(),
    }
    tags.update({f"ablate.version.{name}": version for name, version in versions().items()})
    return tags
