"""Optuna storage from a URL: SQLite by default, any RDB URL, or ``journal:///path``; and
a lock on one study that every process sharing the storage takes in turn.

RDB storages get a heartbeat, so a trial whose process died on another machine is failed
after the grace period; SQLite gets a long lock timeout for several worker processes, and
every transaction takes SQLite's write lock from its start (``BEGIN IMMEDIATE``): Optuna
reads a trial's state and then updates it, which is atomic on PostgreSQL (``SELECT ...
FOR UPDATE``) but not on SQLite, where 2 of 3 processes popped the same queued trial.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna

from ablate.errors import AblateError, first_line
from ablate.locks import file_lock

#: seconds a running trial may go unheard before other processes fail and retry it
GRACE_S = 90
#: the environment variable that sets another grace (a network that drops out for longer)
GRACE_ENV = "ABLATE_HEARTBEAT_GRACE_S"
#: seconds a process waits for another to release a study's lock on a database server
LOCK_WAIT_S = 120


#: what a database says when another process created the same schema a moment earlier
_SCHEMA_RACE = ("already exists", "duplicate key", "uniqueviolation", "integrityerror")
SQLITE = "sqlite:///"
JOURNAL = "journal://"


def heartbeat_timing() -> tuple[int, int]:
    """(seconds between a running trial's heartbeats, grace period): the grace from
    ``ABLATE_HEARTBEAT_GRACE_S`` (default 90), four beats in each."""
    text = os.environ.get(GRACE_ENV, str(GRACE_S))
    if not text.isdigit() or int(text) < 4:
        raise AblateError(f"{GRACE_ENV}={text}: expected whole seconds, at least 4")
    grace = int(text)
    return max(1, min(20, grace // 4)), grace


def _rdb(url: str, kwargs: dict, attempts: int = 6) -> optuna.storages.RDBStorage:
    """An RDB storage; retried while processes that start together (several machines on
    an empty database) race to create Optuna's tables."""
    interval, grace = heartbeat_timing()
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental": no need to say
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=interval, grace_period=grace
                )
        except Exception as exc:
            text = f"{type(exc).__name__} {exc}".lower()
            if attempt == attempts - 1 or not any(word in text for word in _SCHEMA_RACE):
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _writable(path: Path) -> bool:
    """Whether this process may write a SQLite file (and its folder, for the journal)."""
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK) and os.access(path.parent, os.W_OK)


def default_url(run_dir: Path) -> str:
    return f"sqlite:///{run_dir.resolve() / 'optuna.db'}"


def _file(url: str) -> Path | None:
    """The file of a SQLite or journal storage; None for a database server."""
    if url.startswith(JOURNAL):
        return Path(url.removeprefix(JOURNAL))
    if url.startswith(SQLITE):
        return Path(url.removeprefix(SQLITE).split("?")[0])
    return None


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at ``url``; an unusable URL or location is a one-line error."""
    try:
        path = _file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if url.startswith(JOURNAL):
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if url.startswith(SQLITE):
            import sqlalchemy

            if not _writable(path):  # only read here: a read-only disk, a committed store
                return _rdb(url, {"connect_args": {"timeout": 60}})
            # no implicit BEGIN from the driver: every transaction begins IMMEDIATE
            connect = {"timeout": 60, "isolation_level": None}
            storage = _rdb(url, {"connect_args": connect})
            sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
            return storage
        return _rdb(url, {"pool_pre_ping": True})
    except Exception as exc:
        first = first_line(exc)
        if "DB access module" in first and url.startswith("postgresql"):
            first += " (pip install 'ablate[postgres]')"
        raise AblateError(f"optuna storage {url}: {first}") from None


class StudyLock:
    """An exclusive lock on one study, across every process and machine on its storage:
    a lock file beside a SQLite or journal file, an advisory lock on PostgreSQL,
    ``GET_LOCK`` on MySQL. A process that dies releases it (the file or the connection
    closes). What one process checks and then writes under it (an interrupted trial has
    no retry yet; queue one) no other process interleaves."""

    def __init__(self, url: str, key: str):
        self.url, self.key = url, key
        self._engine = None
        if _file(url) is None and not url.startswith(("postgresql", "mysql")):
            raise AblateError(
                f"optuna storage {url}: several processes share a study only on SQLite, "
                "PostgreSQL, MySQL or a journal file"
            )

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        path = _file(self.url)
        if path is not None:
            with file_lock(path.with_name(f".{path.name}.studies.lock")):
                yield
            return
        with self._server_lock():
            yield

    @contextlib.contextmanager
    def _server_lock(self) -> Iterator[None]:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)
        digest = hashlib.sha256(f"ablate study {self.key}".encode()).digest()
        postgres = self.url.startswith("postgresql")
        if postgres:
            take = "SELECT pg_advisory_lock(:key)"
            give = "SELECT pg_advisory_unlock(:key)"
            args = {"key": int.from_bytes(digest[:8], "big", signed=True)}
        else:
            take, give = "SELECT GET_LOCK(:key, :wait)", "SELECT RELEASE_LOCK(:key)"
            args = {"key": f"ablate-{digest.hex()[:40]}", "wait": LOCK_WAIT_S}
        with self._engine.connect() as connection:  # closing it releases the lock too
            if postgres:
                connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_WAIT_S}s'")
            got = connection.execute(sqlalchemy.text(take), args).scalar()
            if not postgres and got != 1:  # 0: timed out; NULL: an error
                raise AblateError(
                    f"optuna storage {self.url}: study {self.key} stayed locked by another "
                    f"process for {LOCK_WAIT_S} s"
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # the server may be what failed
                    connection.execute(sqlalchemy.text(give), args)
