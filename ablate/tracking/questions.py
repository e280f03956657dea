"""One question, one view: the study keys that ask the same thing, and their pooled answer.

A study run once per seed (on other machines or days) leaves one study key per seed:
the same study name and settings, other seeds. They ask one question, whose answer is
their runs pooled (``ablate compare --pool-seeds``: seeds averaged within each fold), not
two parents that may contradict each other. So the keys of one question get a *pooled
run* in their experiment (``ablate.kind = pooled``), holding the pooled answer, with one
*arm run* nested under it per arm (``ablate.kind = arm``: the arm's pooled interval, so
the runs table ranks arms, never one seed's trial beside another seed's).

Each question has its own view of the experiment (:mod:`ablate.tracking.views`): a
study run and its trials, or a pooled run and its arm runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ablate.tracking import pooling
from ablate.tracking.mlflow_store import PARENT_TAG, STUDY_KEY_TAG, Store

QUESTION_TAG = "ablate.question"
KIND_TAG, POOLED, ARM = "ablate.kind", "pooled", "arm"
#: the pooled run's study keys, comma-separated
KEYS_TAG = "ablate.study_keys"
ARM_TAG = "ablate.arm"
#: the parent params in which the runs of one question may differ
SEED_PARAMS = ("optuna.seeds", "train.seed")


@dataclass(frozen=True)
class Question:
    """A question of an experiment: its id (the view's key), its study keys (oldest
    first) and their study runs."""

    id: str
    name: str
    keys: tuple[str, ...]
    parents: tuple[Any, ...]

    @property
    def pooled(self) -> bool:
        return len(self.keys) > 1


def question_id(parent: Any) -> str:
    """``q<hash>`` of the study's name and its study run's params less its seeds: a
    question's id is its oldest key's, so it stays as seeds join (and a link to its view
    stays short)."""
    name = parent.data.tags.get("ablate.study", parent.info.run_name)
    params = {k: v for k, v in parent.data.params.items() if k not in SEED_PARAMS}
    blob = json.dumps([name, params], sort_keys=True)
    return f"q{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def questions(store: Store, experiment_id: str) -> list[Question]:
    """The questions of an experiment, the one asked most recently first: its study keys
    grouped as ``--pool-seeds`` pools them (one study run once per seed, on any version of
    ablate), each named by the :func:`question_id` of its oldest key."""
    parents = store.parents([experiment_id])  # newest first
    by_key = {p.data.tags[STUDY_KEY_TAG]: p for p in parents}
    runs = {
        key: store.children(p.info.run_id, experiment_id, "FINISHED") for key, p in by_key.items()
    }
    out = []
    for members in pooling.seed_groups(by_key, runs, []).values():
        oldest = sorted(
            (by_key[k] for k in members), key=lambda r: (r.info.start_time, r.info.run_id)
        )
        keys = tuple(r.data.tags[STUDY_KEY_TAG] for r in oldest)
        name = oldest[0].data.tags.get("ablate.study", oldest[0].info.run_name)
        out.append(Question(question_id(oldest[0]), name, keys, tuple(oldest)))
    return out


def question_of(store: Store, parent: Any) -> Question:
    """The question ``parent`` (a study run) belongs to."""
    key = parent.data.tags[STUDY_KEY_TAG]
    return next(q for q in questions(store, parent.info.experiment_id) if key in q.keys)


def _one(store: Store, experiment_id: str, query: str) -> Any | None:
    found = store.search([experiment_id], query)
    return min(found, key=lambda r: (r.info.start_time, r.info.run_id)) if found else None


def pooled_run(store: Store, question: Question, experiment_id: str) -> str:
    """The question's pooled run, found again by its question tag or created."""
    query = f"tags.`{QUESTION_TAG}` = '{question.id}' and tags.`{KIND_TAG}` = '{POOLED}'"
    found = _one(store, experiment_id, query)
    if found is not None:
        return found.info.run_id
    tags = {QUESTION_TAG: question.id, KIND_TAG: POOLED, "ablate.study": question.name}
    return store.client.create_run(experiment_id, tags=tags, run_name=question.id).info.run_id


def arm_runs(store: Store, pooled: str, experiment_id: str, arms: list[dict[str, Any]]) -> None:
    """One run per arm under the pooled run: ``{name, params, metrics, tags}`` each, found
    again by the arm's name and updated."""
    existing = {
        r.data.tags.get(ARM_TAG): r.info.run_id
        for r in store.search([experiment_id], f"tags.`{PARENT_TAG}` = '{pooled}'")
    }
    for arm in arms:
        run_id = existing.get(arm["name"])
        if run_id is None:
            tags = {PARENT_TAG: pooled, KIND_TAG: ARM, ARM_TAG: arm["name"]}
            run_id = store.client.create_run(experiment_id, tags=tags).info.run_id
            store.log_params(run_id, arm["params"])
        store.set_tags(run_id, arm["tags"])
        store.log_metrics(run_id, arm["metrics"])
        if store.client.get_run(run_id).info.status == "RUNNING":
            store.client.set_terminated(run_id, "FINISHED")
