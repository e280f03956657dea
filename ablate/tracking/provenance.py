"""Where a result came from: git commit, package versions, host and Python.

The commit is ablate's own (the repository the imported package lives in, or the commit
pip recorded when it installed from git), not that of the directory a study is run from.
"""

from __future__ import annotations

import json
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


def package_commit() -> tuple[str, bool]:
    """(commit, dirty) of the installed ablate package: its checkout's git state, else the
    commit pip recorded in ``direct_url.json``; ("unknown", False) when neither exists."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / ".git").exists():  # a checkout (or worktree), not site-packages
        return git_state(checkout)
    try:
        recorded = json.loads(metadata.distribution("ablate").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return "unknown", False
    return recorded.get("vcs_info", {}).get("commit_id", "unknown"), False


def provenance_tags() -> dict[str, str]:
    """All of the above as MLflow tags under ``ablate.*``."""
    commit, dirty = package_commit()
    tags = {
        "ablate.git_commit": commit,
        "ablate.git_dirty": str(dirty).lower(),
        "ablate.host": socket.gethostname(),
        "ablate.python": platform.python_version(),
    }
    tags.update({f"ablate.version.{name}": version for name, version in versions().items()})
    return tags
