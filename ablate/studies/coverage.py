"""Finished trials the tracking store does not hold.

Optuna keeps every verdict; MLflow holds the metrics ``ablate compare`` reads; the two are
matched by the trial's ``mlflow_run_id``. A store deleted or replaced since, or a study run
with another ``--tracking-uri``, leaves COMPLETE trials with no FINISHED run here: they
are never rerun (Optuna counts them) and compare cannot show them, so both commands say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store

#: how many trial numbers a message lists before "..."
SHOWN = 8


def untracked(trials: Iterable[FrozenTrial], finished: set[str]) -> list[FrozenTrial]:
    """The COMPLETE trials whose run is not among the ``finished`` run ids."""
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get("mlflow_run_id") not in finished
    ]


def _listed(trials: list[FrozenTrial], with_params: bool) -> str:
    def one(t: FrozenTrial) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(t.params.items()))
        return f"{t.number} ({params})" if with_params and params else str(t.number)

    shown = [one(t) for t in trials[:SHOWN]]
    return ", ".join(shown) + (", ..." if len(trials) > SHOWN else "")


def describe(missing: list[FrozenTrial], total: int, with_params: bool = False) -> str:
    """``2 of 5 finished trials are not in this tracking store (trials 0, 3)``."""
    many = len(missing) > 1
    return (
        f"{len(missing)} of {total} finished trial{'s' if total > 1 else ''} "
        f"{'are' if many else 'is'} not in this tracking store "
        f"(trial{'s' if many else ''} {_listed(missing, with_params)})"
    )


def _study_trials(storage_url: str, key: str) -> list[FrozenTrial] | None:
    """The trials of study ``key`` in a local storage (SQLite or journal file) that
    exists; None when it is elsewhere or gone (nothing is created or waited for)."""
    for prefix in ("sqlite:///", "journal://"):
        if storage_url.startswith(prefix):
            path = Path(storage_url.removeprefix(prefix).split("?")[0])
            break
    else:
        return None
    if not path.is_file():
        return None
    with contextlib.suppress(Exception):
        from ablate.studies.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = open_storage(storage_url)
        return optuna.load_study(study_name=key, storage=storage).get_trials(deepcopy=False)
    return None


def compare_notes(store: Store, parents: Iterable[Any]) -> list[str]:
    """For each study shown, the finished trials (and their arms) compare cannot show."""
    notes = []
    for parent in parents:
        key = parent.data.tags.get(STUDY_KEY_TAG, "")
        trials = _study_trials(parent.data.tags.get("ablate.storage", ""), key)
        if not trials:
            continue
        runs = store.children(parent.info.run_id, parent.info.experiment_id, "FINISHED")
        missing = untracked(trials, {r.info.run_id for r in runs})
        if missing:
            total = sum(t.state == TrialState.COMPLETE for t in trials)
            notes.append(
                f"study {key}: {describe(missing, total, with_params=True)}, so compare "
                "cannot show them; the store was deleted or replaced since, or they ran "
                "with another --tracking-uri"
            )
    return notes


def run_warning(study: optuna.Study, store: Store, parent_id: str, experiment_id: str) -> str:
    """For ``ablate run``: the study's finished trials this store does not hold, or ''."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not done:
        return ""
    runs = store.children(parent_id, experiment_id, "FINISHED")
    missing = untracked(done, {r.info.run_id for r in runs})
    if not missing:
        return ""
    return (
        f"warning: tracking store {store.uri}: {describe(missing, len(done))}: it was deleted "
        "or replaced since, or they ran with another --tracking-uri. Optuna keeps them, so "
        "they are not rerun, and compare cannot show them: restore that store (or pass its "
        "--tracking-uri), or start over with another --run-dir"
    )
