"""Every split's guarantees: speaker independence, validation from training speakers,
random_kfold flagged, determinism, one-line errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ablate.config import make_config
from ablate.data.splits import make_folds
from ablate.errors import AblateError


def fake_corpus(speakers: int = 8, per_speaker: int = 12, labels: int = 4):
    rng = np.random.default_rng(0)
    names = [f"{i:02d}" for i in range(speakers) for _ in range(per_speaker)]
    return SimpleNamespace(speakers=names, labels=rng.integers(0, labels, len(names)))


def protocol(*overrides: str):
    return make_config(dotlist=list(overrides)).protocol


def check_partition(fold, n):
    sides = [set(fold.train.tolist()), set(fold.val.tolist()), set(fold.test.tolist())]
    assert all(sides), "every side is non-empty"
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert set().union(*sides) == set(range(n))


@pytest.mark.parametrize(
    "overrides",
    [
        ("protocol.split=loso",),
        ("protocol.split=speaker_kfold", "protocol.folds=4"),
        ("protocol.split=holdout", "protocol.test_speakers=['00','05']"),
    ],
)
def test_speaker_independent_folds_never_share_a_speaker(overrides):
    corpus = fake_corpus()
    speakers = np.asarray(corpus.speakers)
    folds = make_folds(corpus, protocol(*overrides))
    tested = []
    for fold in folds:
        assert fold.speaker_independent
        check_partition(fold, len(speakers))
        train, val, test = (set(speakers[s]) for s in (fold.train, fold.val, fold.test))
        assert not (train & test or val & test or train & val)
        assert test == set(fold.test_speakers) and val == set(fold.val_speakers)
        assert len(fold.val_speakers) >= 1
        tested += fold.test_speakers
    if overrides[0] != "protocol.split=holdout":
        assert sorted(tested) == sorted(set(corpus.speakers)), "each speaker tested once"


def test_loso_has_one_fold_per_speaker_and_max_folds_truncates():
    corpus = fake_corpus()
    assert len(make_folds(corpus, protocol("protocol.split=loso"))) == 8
    assert len(make_folds(corpus, protocol("protocol.split=loso", "protocol.max_folds=2"))) == 2


def test_speaker_kfold_balances_labels_across_folds():
    corpus = fake_corpus(speakers=12, labels=3)
    folds = make_folds(corpus, protocol("protocol.split=speaker_kfold", "protocol.folds=3"))
    assert [len(f.test_speakers) for f in folds] == [4, 4, 4]
    shares = np.array(
        [np.bincount(corpus.labels[f.test], minlength=3) / len(f.test) for f in folds]
    )
    overall = np.bincount(corpus.labels, minlength=3) / len(corpus.labels)
    assert np.abs(shares - overall).max() < 0.1


def test_random_kfold_is_flagged_stratified_and_partitions_utterances():
    corpus = fake_corpus()
    folds = make_folds(corpus, protocol("protocol.split=random_kfold", "protocol.folds=4"))
    assert all(not f.speaker_independent for f in folds)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(corpus.labels)))
    for fold in folds:
        check_partition(fold, len(corpus.labels))
        counts = np.bincount(corpus.labels[fold.test], minlength=4)
        expected = np.bincount(corpus.labels, minlength=4) / 4
        assert np.abs(counts - expected).max() <= 1


def test_folds_are_deterministic_for_a_seed():
    corpus = fake_corpus()
    a = make_folds(corpus, protocol("protocol.split=loso", "protocol.seed=3"))
    b = make_folds(corpus, protocol("protocol.split=loso", "protocol.seed=3"))
    c = make_folds(corpus, protocol("protocol.split=loso", "protocol.seed=4"))
    assert [f.val_speakers for f in a] == [f.val_speakers for f in b]
    assert [f.val_speakers for f in a] != [f.val_speakers for f in c]


def test_holdout_accepts_yaml_integers_for_zero_padded_speakers():
    corpus = fake_corpus()
    (fold,) = make_folds(corpus, protocol("protocol.split=holdout", "protocol.test_speakers=[3]"))
    assert fold.test_speakers == ["03"]


@pytest.mark.parametrize(
    ("overrides", "corpus", "match"),
    [
        (("protocol.split=bogus",), fake_corpus(), r"protocol\.split: unknown split 'bogus'"),
        (("protocol.split=loso",), fake_corpus(speakers=2), r"loso needs at least 3 speakers"),
        (
            ("protocol.split=speaker_kfold", "protocol.folds=4"),
            fake_corpus(speakers=4),
            r"protocol\.folds: speaker_kfold with 4 folds needs at least 5",
        ),
        (
            ("protocol.split=holdout", "protocol.test_speakers=['99']"),
            fake_corpus(),
            r"protocol\.test_speakers: unknown speaker 99",
        ),
        (("protocol.split=holdout",), fake_corpus(), r"protocol\.test_speakers: holdout needs"),
    ],
)
def test_bad_protocols_are_one_line_errors(overrides, corpus, match):
    with pytest.raises(AblateError, match=match) as caught:
        make_folds(corpus, protocol(*overrides))
    assert "\n" not in str(caught.value)
