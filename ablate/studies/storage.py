"""Optuna storage from a URL: SQLite by default, any RDB URL, or ``journal:///path``.

RDB storages get a heartbeat, so a trial whose process died on another machine is failed
after the grace period; SQLite gets a long lock timeout for several worker processes.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path

import optuna

from ablate.errors import AblateError, first_line

HEARTBEAT_S = 20
GRACE_S = 90


#: what a database says when another process created the same schema a moment earlier
_SCHEMA_RACE = ("already exists", "duplicate key", "uniqueviolation", "integrityerror")


def _rdb(url: str, kwargs: dict, attempts: int = 6) -> optuna.storages.RDBStorage:
    """An RDB storage; retried while processes that start together (several machines on
    an empty database) race to create Optuna's tables."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental": no need to say
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                )
        except Exception as exc:
            text = f"{type(exc).__name__} {exc}".lower()
            if attempt == attempts - 1 or not any(word in text for word in _SCHEMA_RACE):
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


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
        return _rdb(url, kwargs)
    except Exception as exc:
        first = first_line(exc)
        if "DB access module" in first and url.startswith("postgresql"):
            first += " (pip install 'ablate[postgres]')"
        raise AblateError(f"optuna storage {url}: {first}") from None
