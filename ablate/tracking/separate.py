"""Move a committed store's speaker-dependent studies into experiments of their own.

New studies whose trials may leak go to ``<name> (speaker-dependent)`` when they start
(:func:`ablate.tracking.naming.experiment_name`). A store written before shares one
experiment between them and honest studies, so its runs table ranked the leak's 0.94-0.97
above the honest arms. :func:`separate` moves each such study run, with every run nested
under it, to the experiment a new run would use, and its artifacts with it (the relative
``<store>-artifacts/<experiment>/<run>/`` layout of :mod:`ablate.tracking.bundle`).
It is idempotent: a store already separated is left as it is.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from ablate.tracking.mlflow_store import PARENT_TAG, Store
from ablate.tracking.naming import LEAK


def _leaks(store: Store, parent: Any) -> bool:
    """Whether the trials of a study run were speaker-dependent (as they logged)."""
    trials = store.children(parent.info.run_id, parent.info.experiment_id)
    return any(t.data.tags.get("ablate.speaker_independent") == "false" for t in trials)


def _descendants(con: sqlite3.Connection, run_id: str) -> list[str]:
    """``run_id`` and every run nested under it, at any depth."""
    found, frontier = [run_id], [run_id]
    while frontier:
        marks = ",".join("?" * len(frontier))
        rows = con.execute(
            f"select run_uuid from tags where key = ? and value in ({marks})",
            (PARENT_TAG, *frontier),
        ).fetchall()
        frontier = [row[0] for row in rows]
        found += frontier
    return found


def _move(db: Path, runs: list[str], experiment_id: str, root: str) -> None:
    """Point ``runs`` at ``experiment_id`` and move their artifact folders along."""
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        for run in runs:
            (old,) = con.execute(
                "select experiment_id from runs where run_uuid = ?", (run,)
            ).fetchone()
            source = db.parent / root / str(old) / run
            target = db.parent / root / str(experiment_id) / run
            if source.is_dir() and source != target:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(source, target)
            con.execute(
                "update runs set experiment_id = ?, artifact_uri = ? where run_uuid = ?",
                (int(experiment_id), f"{root}/{experiment_id}/{run}/artifacts", run),
            )


def separate(db: Path, root: str) -> list[tuple[str, str]]:
    """Move every speaker-dependent study of ``db`` (with its trials and fold runs) out of
    an experiment of honest ones; ``(study key, experiment)`` for each move."""
    store = Store(f"sqlite:///{db}")
    names = {e.experiment_id: e.name for e in store.client.search_experiments()}
    moves = []
    for parent in store.parents(list(names)):
        name = names[parent.info.experiment_id]
        if name.endswith(f"({LEAK})") or not _leaks(store, parent):
            continue
        target = store.experiment_id(f"{name} ({LEAK})")
        with contextlib.closing(sqlite3.connect(db)) as con:
            runs = _descendants(con, parent.info.run_id)
            con.execute(
                "update experiments set artifact_location = ? where experiment_id = ?",
                (f"{root}/{target}", int(target)),
            )
            con.commit()
        _move(db, runs, target, root)
        moves.append((parent.data.tags.get("ablate.study_key", ""), f"{name} ({LEAK})"))
    return moves
