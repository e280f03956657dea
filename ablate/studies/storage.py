"""Optuna storage from a URL: SQLite by default, any RDB URL, or ``journal:///path``.

RDB storages get a heartbeat, so a trial whose process died on another machine is failed
after the grace period; SQLite gets a long lock timeout for several worker processes.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from ablate.errors import AblateError

HEARTBEAT_S = 20
GRACE_S = 90


def default_url(run_dir: Path) -> str:
    return f"sqlite:///{run_dir.resolve() / 'optuna.db'}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at ``url``; an unusable URL or location is a one-line error."""
    try:
        if url.startswith("journal://"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url.removeprefix("journal://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        kwargs: dict = {"pool_pre_ping": True}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///").split("?")[0]).parent.mkdir(
                parents=True, exist_ok=True
            )
            kwargs = {"connect_args": {"timeout": 60}}
        return optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "DB access module" in first and url.startswith("postgresql"):
            first += " (pip install 'ablate[postgres]')"
        raise AblateError(f"optuna storage {url}: {first}") from None
