"""The arms of one or more studies, read back from the MLflow store.

An arm is one study key's combination of swept values (the child runs' ``ablate.swept``
tag); a distillation study adds its teacher as an arm. Arms of different study keys are
not pooled: two keys with the same study name become separate arms, labelled by the
settings in which the studies differ (``split=random_kfold``), and a note names them all.
The one exception is asked for: ``pool_seeds`` joins keys that differ in their seeds
alone (one study run once per seed, on other machines or days; :mod:`.pooling` checks
that they tested the same thing), whose (seed, fold) scores then average within each fold
like one study's.

Per-fold values are read by :func:`ablate.tracking.folds.fold_values` alone, so their
source can change in one place. Each fold gets an identity that says what it tested (the
dataset, class set and test speakers; for a speaker-dependent split the exact data and
split), so two arms are paired only on folds that tested the same thing. Where a fold's
runs recorded each test speaker's own scores, :meth:`Arm.units` can make the speaker the
unit, its fold naming the cluster of speakers that share a trained model.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.tracking import folds as fold_runs
from ablate.tracking.folds import TEACHER, fold_values, speaker_values
from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store
from ablate.tracking.naming import arm_name
from ablate.tracking.pooling import check_names, read_json, seed_groups, settings
from ablate.tracking.stats import fold_means

#: how many of the settings in which two studies of one name differ their labels show
_SHOWN_DIFFERENCES = 1


@dataclass
class Arm:
    """One combination of swept values of one study key. ``values[metric]`` holds the
    per-(seed, fold id) test scores; ``folds`` maps a fold id to its test speakers."""

    name: str
    study: str
    swept: dict[str, Any] = field(default_factory=dict)
    teacher: bool = False
    values: dict[str, dict[tuple[int, str], float]] = field(default_factory=dict)
    folds: dict[str, str] = field(default_factory=dict)
    classes: int = 0
    #: the class names its runs were scored on (``ablate.label_names``); () when unknown
    labels: tuple[str, ...] = ()
    speaker_independent: bool = True
    params: float = math.nan
    gflops: float = math.nan
    seconds: float = math.nan
    runs: int = 0
    #: every score of a (seed, fold), when trials repeat an arm; ``values`` holds their mean
    repeats: dict[str, dict[tuple[int, str], list[float]]] = field(default_factory=dict)
    #: each test speaker's score: ``{metric: {(seed, fold id, speaker): value}}``
    speakers: dict[str, dict[tuple[int, str, str], float]] = field(default_factory=dict)

    def fold_means(self, metric: str) -> dict[str, float]:
        """``metric`` (uar, war, f1) per fold, its seeds averaged first."""
        return fold_means(self.values.get(metric, {}))

    def has_speakers(self, metric: str) -> bool:
        """Whether every (seed, fold) score of ``metric`` has its speakers' scores too."""
        recorded = {(seed, fold) for seed, fold, _ in self.speakers.get(metric, {})}
        return bool(self.values.get(metric)) and recorded >= set(self.values[metric])

    def units(self, metric: str, by_speaker: bool = False) -> dict[str, float]:
        """``metric`` per unit, its seeds averaged first: per fold (the key is the fold id),
        or ``by_speaker`` per test speaker (the fold id and the speaker joined by
        :data:`UNIT_SEP`; :func:`cluster` gives its fold)."""
        if not by_speaker:
            return self.fold_means(metric)
        return fold_means(
            {
                (seed, f"{fold}{UNIT_SEP}{speaker}"): v
                for (seed, fold, speaker), v in self.speakers[metric].items()
            }
        )


#: joins a speaker unit's fold id and speaker (a character no name holds)
UNIT_SEP = "\x1f"


def cluster(unit: str) -> str:
    """The fold of a unit: its models' training run, which its speakers share."""
    return unit.split(UNIT_SEP, 1)[0]


def find_parent(store: Store, target: str, notes: list[str] | None = None) -> Any:
    """The parent run of a study key, or the newest study run of an experiment name (a note
    then names the other keys under that name)."""
    experiments = store.client.search_experiments()
    parents = store.parents([e.experiment_id for e in experiments])
    by_key = [r for r in parents if r.data.tags.get(STUDY_KEY_TAG) == target]
    if by_key:
        return by_key[0]
    named = [e.experiment_id for e in experiments if e.name == target]
    in_experiment = [r for r in parents if r.info.experiment_id in named]
    if in_experiment:
        others = [r.data.tags[STUDY_KEY_TAG] for r in in_experiment[1:]]
        if others and notes is not None:
            newest = in_experiment[0].data.tags[STUDY_KEY_TAG]
            notes.append(
                f"'{target}' names {len(in_experiment)} study keys; shown: the newest, {newest}"
                f" (others: {', '.join(others)}; pass a key to choose)"
            )
        return in_experiment[0]
    known = sorted({e.name for e in experiments if e.name != "Default"})
    raise AblateError(
        f"no study '{target}' in {store.uri}; experiments: {', '.join(known) or 'none'}"
    )


def study_keys(store: Store, target: str) -> tuple[list[Any], bool]:
    """The parent runs ``target`` names: one study key, or every key of an experiment
    name (newest first); and whether it was a name."""
    parent = find_parent(store, target)
    if parent.data.tags.get(STUDY_KEY_TAG) == target:
        return [parent], False
    return store.parents([parent.info.experiment_id]), True


def load_arms(
    store: Store, targets: list[str], pool_seeds: bool = False
) -> tuple[list[Any], list[Arm], list[str]]:
    """The parent runs of ``targets``, the arms of all of them and notes for the reader.
    With several studies, each arm's name starts with its study's label; ``pool_seeds``
    joins the keys that differ in their seeds alone (:mod:`.pooling`), and a study name
    then stands for every key of that name, which must all pool."""
    notes: list[str] = []
    parents: dict[str, Any] = {}
    named: dict[str, list[str]] = {}
    for target in targets:
        found, is_name = (
            study_keys(store, target)
            if pool_seeds
            else ([find_parent(store, target, notes)], False)
        )
        for parent in found:
            parents.setdefault(parent.data.tags[STUDY_KEY_TAG], parent)
        if is_name:
            named[target] = [p.data.tags[STUDY_KEY_TAG] for p in found]
    runs = {
        key: [
            r
            for r in store.children(p.info.run_id, p.info.experiment_id)
            if r.info.status == "FINISHED"
        ]
        for key, p in parents.items()
    }
    for target, keys in named.items():  # a seed still on its way: the others answer
        idle = [key for key in keys if not runs[key]]
        if idle and len(idle) < len(keys):
            notes.append(f"{', '.join(idle)}: no finished trial yet, left out of '{target}'")
            named[target] = [key for key in keys if key not in idle]
            for key in idle:
                parents.pop(key, None)
                runs.pop(key, None)
    groups = seed_groups(parents, runs, notes) if pool_seeds else {k: [k] for k in parents}
    check_names(named, groups, parents, runs)
    grouped = {key: [r for member in groups[key] for r in runs[member]] for key in groups}
    shown = {key: parents[key] for key in groups}
    labels = _study_labels(shown, grouped, notes) if len(groups) > 1 else dict.fromkeys(groups, "")
    arms: dict[tuple[str, str], Arm] = {}
    for key, members in groups.items():
        prefix = f"{labels[key]}: " if labels[key] else ""
        for member in members:
            by_trial = fold_runs.of_study(store, parents[member].info.experiment_id, member)
            for run in runs[member]:
                folds = by_trial.get(run.info.run_id, [])
                swept = run.data.tags.get("ablate.swept", run.info.run_name)
                arm = arms.setdefault(
                    (key, swept), Arm(prefix + _arm_name(swept), key, read_json(swept))
                )
                _add_run(arm, run, "", folds)
                if "teacher_params" in run.data.metrics:
                    teacher = arms.setdefault(
                        (key, TEACHER), Arm(prefix + TEACHER, key, teacher=True)
                    )
                    _add_run(teacher, run, TEACHER, folds)
    return list(shown.values()), [a for a in arms.values() if a.values], notes


def _add_run(arm: Arm, run: Any, role: str = "", fold_runs: list[Any] | None = None) -> None:
    arm.runs += 1
    folds = _fold_ids(run)

    def fold_id(fold: int) -> tuple[str, str]:
        return folds.get(fold, (f"{arm.study}/fold{fold}", f"fold {fold}"))

    for (source, metric), values in fold_values(run, fold_runs or []).items():
        if source != role:
            continue
        for (seed, fold), value in values.items():
            unit, label = fold_id(fold)
            arm.repeats.setdefault(metric, {}).setdefault((seed, unit), []).append(value)
            arm.values.setdefault(metric, {})[(seed, unit)] = statistics.fmean(
                arm.repeats[metric][(seed, unit)]
            )
            arm.folds[unit] = label
    for (source, metric), values in speaker_values(fold_runs or []).items():
        if source == role:
            for (seed, fold, speaker), value in values.items():
                arm.speakers.setdefault(metric, {})[(seed, fold_id(fold)[0], speaker)] = value
    tags = run.data.tags
    arm.speaker_independent &= tags.get("ablate.speaker_independent", "true") != "false"
    arm.labels = tuple(read_json(tags.get("ablate.label_names", "[]")) or ())
    arm.classes = len(arm.labels)
    prefix = f"{role}_" if role else ""
    for attr in ("params", "gflops", "seconds"):
        if prefix + attr in run.data.metrics:
            setattr(arm, attr, run.data.metrics[prefix + attr])


def _fold_ids(run: Any) -> dict[int, tuple[str, str]]:
    """Fold index -> (what the fold tested, its test speakers). A speaker-independent fold
    is its dataset, class set and test speakers; any other fold is its exact data and split."""
    tags = run.data.tags
    split = read_json(tags.get("ablate.split", "[]")) or []
    independent = tags.get("ablate.speaker_independent", "true") != "false"
    what = [run.data.params.get("data.dataset", ""), tags.get("ablate.label_names", "")]
    exact = [tags.get("ablate.fingerprint", ""), tags.get("ablate.split", "")]
    ids = {}
    for entry in split:
        speakers = sorted(str(s) for s in entry.get("test_speakers") or [])
        shared = independent and speakers
        identity = json.dumps([*what, speakers] if shared else [*exact, entry.get("fold")])
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        label = "+".join(speakers) if speakers else f"fold {entry.get('fold')}"
        ids[int(entry.get("fold", -1))] = (digest, label)
    return ids


def _arm_name(label: str) -> str:
    swept = read_json(label)
    if not isinstance(swept, dict) or not swept:
        return label
    return arm_name(swept)


def _study_labels(
    parents: dict[str, Any], runs: dict[str, list[Any]], notes: list[str]
) -> dict[str, str]:
    """Each study key's label: its study name, and where two keys share a name, the first
    settings in which they differ (the note lists every one)."""
    names = {key: p.data.tags.get("ablate.study", p.info.run_name) for key, p in parents.items()}
    labels = dict(names)
    for name in sorted(set(names.values())):
        keys = [key for key in parents if names[key] == name]
        if len(keys) < 2:
            continue
        fixed = {key: settings(runs[key]) for key in keys}
        differing = sorted(
            {k for key in keys for k in fixed[key] if _differs(fixed, keys, k)},
            key=_priority,
        )
        for key in keys:
            shown = [f"{k.rsplit('.', 1)[-1]}={fixed[key].get(k, '-')}" for k in differing]
            more = len(shown) - _SHOWN_DIFFERENCES
            tail = f", +{more} more" if more > 0 else ""
            labels[key] = f"{name} [{', '.join(shown[:_SHOWN_DIFFERENCES]) or key}{tail}]"
        notes.append(
            f"{', '.join(keys)} are different studies named '{name}', kept apart; they differ "
            f"in {', '.join(differing) or 'nothing recorded'}"
        )
    return labels


def _differs(settings: dict[str, dict[str, str]], keys: list[str], name: str) -> bool:
    return len({settings[key].get(name) for key in keys}) > 1


def _priority(key: str) -> tuple[int, str]:
    order = ("protocol.split", "protocol.augment_before_split", "data.dataset", "protocol.",
             "data.", "seeds", "model.", "train.", "distill.")  # fmt: skip
    return next((i for i, p in enumerate(order) if key.startswith(p)), len(order)), key
