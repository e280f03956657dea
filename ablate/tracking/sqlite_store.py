"""A local SQLite MLflow store that is either absent or complete, never half-made.

MLflow creates a new SQLite store in place: it creates the tables, then runs some fifty
migrations, committing one statement at a time (2 s, or 10 s on a busy machine). A
process killed meanwhile left a half-migrated ``mlflow.db`` that every later command
refused (``table datasets already exists``). Here a new store is built in a temporary file
beside the target and renamed onto it; a half-made store left by an older ablate (or by
MLflow) is rebuilt when it holds nothing, and otherwise named in a one-line error with
the way out. All of it happens under a lock file next to the store (``.NAME.lock``), where
only someone who may write the store can create it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ablate.errors import AblateError, first_line
from ablate.files import fsync
from ablate.locks import file_lock

PREFIX = "sqlite:///"
#: tables MLflow's own migrations fill in a new, empty store
SEEDED = ("alembic_version", "workspaces")
#: suffixes of SQLite's side files of a database in rollback-journal or WAL mode
SIDE_FILES = ("-journal", "-wal", "-shm")


def sqlite_path(uri: str) -> Path | None:
    """The file of an absolute ``sqlite:////path`` URI; None for other stores."""
    if not uri.startswith(PREFIX):
        return None
    name = uri.removeprefix(PREFIX).split("?")[0]
    return None if name in ("", ":memory:") else Path(name)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, timeout=60))


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> AblateError:
    return AblateError(
        f"tracking store {path}: not a usable SQLite database ({first_line(exc)}); "
        "move it away or pass another --tracking-uri"
    )


def _state(path: Path) -> tuple[str | None, set[str]]:
    """(alembic revision, table names) of an existing store file: two tiny queries, as
    every command that opens the store asks."""
    try:
        with _connect(path) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
            row = None
            if "alembic_version" in tables:
                row = db.execute("select version_num from alembic_version").fetchone()
            return (row[0] if row else None), tables
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, exc) from None


def _holdings(path: Path, tables: set[str]) -> dict[str, int]:
    """Runs and experiments (MLflow's Default one, id 0, aside) counted, and 1 for any other
    table with a row, of a store that is not current: what a rebuild would lose."""
    found = {}
    try:
        with _connect(path) as db:
            for table in sorted(tables):
                if table in SEEDED or table.startswith("sqlite_"):
                    continue
                if table in ("runs", "experiments"):
                    where = " where experiment_id != 0" if table == "experiments" else ""
                    query = f'select count(*) from "{table}"{where}'
                else:
                    query = f'select exists(select 1 from "{table}")'
                found[table] = db.execute(query).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, exc) from None
    return found


def _expected() -> tuple[str, set[str]]:
    """The schema revision and the tables of a complete store for this MLflow."""
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision(), set(Base.metadata.tables)


def _remove(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _build(path: Path) -> None:
    """Create and migrate a new store in a temporary file, then rename it onto ``path``."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    temp = path.with_name(f".{path.name}.creating")
    _remove(temp)  # what a creation killed before ours left
    engine = sqlalchemy.create_engine(f"{PREFIX}{temp}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    fsync(temp)
    # a hot journal of the file being replaced would be rolled back into the new one
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    os.replace(temp, path)
    fsync(path.parent, directory=True)


def _current(revision: str | None, tables: set[str]) -> tuple[bool, str]:
    """Whether the store is at this MLflow's schema with all its tables, and that schema."""
    head, needed = _expected()
    return revision == head and needed <= tables, head


def ensure_complete(path: Path) -> None:
    """Make ``path`` a complete store for this MLflow, or raise a one-line error.

    Absent or empty: built. Half-made (tables missing or an older schema revision) and
    holding nothing but MLflow's seeds: rebuilt, with a note on stderr. Half-made or old
    and holding runs or experiments: left alone, and the error says how to upgrade it.
    """
    if not path.exists() or path.stat().st_size == 0:
        _build(path)
        return
    revision, tables = _state(path)
    current, head = _current(revision, tables)
    if current:
        return
    rows = _holdings(path, tables)
    if not any(rows.values()):
        print(
            f"note: {path} was left half-made (schema {revision or 'none'} of {head}, "
            "an interrupted first run?) and held no runs; rebuilding it",
            file=sys.stderr,
        )
        _build(path)
        return
    raise AblateError(
        f"tracking store {path}: schema {revision or 'unknown'}, expected {head} (an "
        f"interrupted upgrade, or another MLflow version), and it holds "
        f"{rows.get('runs', 0)} runs in {rows.get('experiments', 0)} experiments; "
        f"back it up, then run `mlflow db upgrade {PREFIX}{path}`"
    )


@contextmanager
def opened(path: Path) -> Iterator[None]:
    """Hold the store's lock while it is checked, built or repaired, and opened.

    Where the lock cannot be created (a read-only folder), a store that is already
    complete is opened without it: reading needs no lock.
    """
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(lock_path(path)))
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not path.is_file():
                raise
            if not _current(*_state(path))[0]:
                raise AblateError(
                    f"tracking store {path}: cannot create its lock file "
                    f"({exc.strerror}) to finish or repair it; make its folder writable"
                ) from None
        else:
            ensure_complete(path)
        yield
