"""Train / validation / test folds.

``loso``, ``speaker_kfold`` and ``holdout`` are speaker-independent: no speaker is on
more than one side of a fold. ``random_kfold`` splits utterances (stratified by label)
and leaks speakers, so its folds are flagged ``speaker_independent=False``. Every fold
carves its validation subset from the training side (whole speakers when
speaker-independent), so the test side is never used for model selection;
``val_fraction`` 0 keeps no validation subset (training then ends on a fixed schedule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from ablate.errors import AblateError

SPLITS = ("loso", "speaker_kfold", "holdout", "random_kfold")


@dataclass
class Fold:
    """Index arrays into the corpus for one fold, and which speakers are held out."""

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    speaker_independent: bool
    test_speakers: list[str]
    val_speakers: list[str]


def make_folds(corpus, protocol: DictConfig) -> list[Fold]:
    """The folds of ``protocol.split`` over ``corpus`` (anything with ``speakers`` and
    ``labels``), deterministic for ``protocol.seed``, truncated to ``protocol.max_folds``."""
    split = protocol.split
    if split not in SPLITS:
        raise AblateError(f"protocol.split: unknown split '{split}'; known: {', '.join(SPLITS)}")
    speakers = np.asarray(corpus.speakers)
    labels = np.asarray(corpus.labels)
    rng = np.random.default_rng(protocol.seed)
    if split == "random_kfold":
        folds = _random_kfold(labels, protocol, rng)
    else:
        groups = _test_groups(split, speakers, labels, protocol, rng)
        folds = [
            _speaker_fold(i, test, speakers, labels, protocol.val_fraction, rng)
            for i, test in enumerate(groups)
        ]
    if protocol.max_folds > 0:
        folds = folds[: protocol.max_folds]
    return folds


def _test_groups(split, speakers, labels, protocol, rng) -> list[list[str]]:
    """The test speakers of each fold."""
    unique = sorted(set(speakers.tolist()))
    if split == "holdout":
        test = [_speaker_name(s, unique) for s in protocol.test_speakers or []]
        if not test:
            raise AblateError("protocol.test_speakers: holdout needs at least one test speaker")
        unknown = [s for s in test if s not in unique]
        if unknown:
            raise AblateError(
                f"protocol.test_speakers: unknown speaker {', '.join(unknown)}; "
                f"corpus speakers: {', '.join(unique)}"
            )
        if len(unique) - len(set(test)) < 2:
            raise AblateError(
                "protocol.test_speakers: holdout needs at least 2 other speakers "
                "(one for validation, one for training)"
            )
        return [sorted(set(test))]
    if split == "loso":
        _need(len(unique), 3, "protocol.split: loso", "(test, validation and training)")
        return [[s] for s in unique]
    k = int(protocol.folds)
    if k < 2:
        raise AblateError(f"protocol.folds: speaker_kfold needs at least 2 folds, got {k}")
    _need(len(unique), k + 1, f"protocol.folds: speaker_kfold with {k} folds", "")
    return _grouped_stratified(speakers, labels, unique, k, rng)


def _speaker_name(value, unique: list[str]) -> str:
    """A configured speaker as the corpus spells it (YAML reads ``03`` as the number 3)."""
    text = str(value)
    if text in unique or not text.isdigit():
        return text
    return next((u for u in unique if u.isdigit() and int(u) == int(text)), text)


def _need(have: int, need: int, what: str, why: str) -> None:
    if have < need:
        why = f" {why}" if why else ""
        raise AblateError(f"{what} needs at least {need} speakers{why}, the corpus has {have}")


def _grouped_stratified(speakers, labels, unique, k, rng) -> list[list[str]]:
    """Assign whole speakers to k folds, largest first, each to the fold whose label
    distribution it brings closest to the corpus' (ties broken at random by the seed)."""
    n_labels = int(labels.max()) + 1
    counts = {s: np.bincount(labels[speakers == s], minlength=n_labels) for s in unique}
    target = np.bincount(labels, minlength=n_labels) / k
    order = sorted(unique, key=lambda s: (-counts[s].sum(), rng.random()))
    folds: list[list[str]] = [[] for _ in range(k)]
    totals = np.zeros((k, n_labels))
    for speaker in order:
        costs = []
        for f in range(k):
            after = totals.copy()
            after[f] += counts[speaker]
            costs.append((((after - target) ** 2).sum(), len(folds[f]), rng.random()))
        best = min(range(k), key=lambda f: costs[f])
        folds[best].append(speaker)
        totals[best] += counts[speaker]
    return [sorted(f) for f in folds]


def _speaker_fold(index, test_speakers, speakers, labels, val_fraction, rng) -> Fold:
    """Test = the given speakers; validation = whole speakers drawn from the rest."""
    rest = sorted(set(speakers.tolist()) - set(test_speakers))
    n_val = 0 if val_fraction <= 0 else min(len(rest) - 1, max(1, round(val_fraction * len(rest))))
    val_speakers = sorted(rng.choice(rest, size=n_val, replace=False).tolist())
    test = np.flatnonzero(np.isin(speakers, test_speakers))
    val = np.flatnonzero(np.isin(speakers, val_speakers))
    train = np.flatnonzero(~np.isin(speakers, [*test_speakers, *val_speakers]))
    return Fold(index, train, val, test, True, list(test_speakers), val_speakers)


def _stratified_parts(labels: np.ndarray, indices: np.ndarray, k: int, rng) -> list[np.ndarray]:
    """Split ``indices`` into k parts with each label spread evenly (dealt round-robin)."""
    parts: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in np.unique(labels[indices]):
        members = rng.permutation(indices[labels[indices] == label])
        for j, member in enumerate(members):
            parts[(offset + j) % k].append(int(member))
        offset += len(members)
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def _random_kfold(labels, protocol, rng) -> list[Fold]:
    """Stratified utterance-level k folds; speaker-dependent, flagged as such."""
    k = int(protocol.folds)
    if k < 2 or k > len(labels):
        raise AblateError(f"protocol.folds: random_kfold needs 2 to {len(labels)} folds, got {k}")
    parts = _stratified_parts(labels, np.arange(len(labels)), k, rng)
    folds = []
    for i, test in enumerate(parts):
        rest = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != i]))
        val = _carve(labels, rest, protocol.val_fraction, rng)
        train = np.setdiff1d(rest, val)
        folds.append(Fold(i, train, val, test, False, [], []))
    return folds


def _carve(labels: np.ndarray, indices: np.ndarray, fraction: float, rng) -> np.ndarray:
    """A stratified ``fraction`` (at least one utterance unless ``fraction`` is 0) of
    ``indices``."""
    if fraction <= 0:
        return indices[:0].astype(np.int64)
    chosen: list[np.ndarray] = []
    for label in np.unique(labels[indices]):
        members = rng.permutation(indices[labels[indices] == label])
        take = min(len(members) - 1, round(fraction * len(members)))
        chosen.append(members[: max(0, take)])
    val = np.sort(np.concatenate(chosen)).astype(np.int64)
    return val if len(val) else np.sort(rng.permutation(indices)[:1])


def describe(folds: Sequence[Fold]) -> str:
    """One line per fold: sizes and held-out speakers (for logs)."""
    return "\n".join(
        f"fold {f.index}: train {len(f.train)}, val {len(f.val)}, test {len(f.test)}"
        + (
            f", test speakers {' '.join(f.test_speakers)}"
            if f.speaker_independent
            else ", speaker-dependent"
        )
        for f in folds
    )


def training_fold(corpus, protocol: DictConfig) -> Fold:
    """Every utterance for training except a validation subset, with no test side: the
    split of ``ablate train``. Validation takes whole speakers when there are at least two."""
    speakers = np.asarray(corpus.speakers)
    labels = np.asarray(corpus.labels)
    rng = np.random.default_rng(protocol.seed)
    if len(set(speakers.tolist())) >= 2:
        return _speaker_fold(0, [], speakers, labels, protocol.val_fraction, rng)
    everything = np.arange(len(labels))
    val = _carve(labels, everything, protocol.val_fraction, rng)
    empty = np.zeros(0, dtype=np.int64)
    return Fold(0, np.setdiff1d(everything, val), val, empty, False, [], [])


def check_classes(corpus) -> None:
    """A classifier needs two classes; ``data.labels`` or ``data.label_map`` can leave one."""
    names = list(corpus.label_names)
    if len(names) < 2:
        raise AblateError(
            f"data.labels: the corpus has {len(names)} class ({', '.join(names) or 'none'}) "
            "after data.label_map and data.labels; a classifier needs at least 2"
        )


def check_split(corpus, protocol: DictConfig) -> list[Fold]:
    """The folds of ``protocol`` over ``corpus``, or one line saying why there are none:
    fewer than two classes, or too few speakers for the split."""
    check_classes(corpus)
    return make_folds(corpus, protocol)
