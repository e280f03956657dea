"""Augmentation touches training utterances only; each augment does what it says."""

from __future__ import annotations

import pytest
import torch

import ablate.data.augment as augment_module
from ablate.config import make_config
from ablate.data.augment import BatchAugmenter, training_set
from ablate.data.pipeline import load_corpus
from ablate.data.splits import make_folds
from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.slots import build_slot


@pytest.fixture
def corpus_and_fold(small_data):
    data = small_data("synthetic", None, "data.dataset_args={speakers: 3, per_class: 1}")
    corpus = load_corpus(data, progress=False, registry=get_registry())
    protocol = make_config(dotlist=["protocol.split=loso"]).protocol
    return corpus, make_folds(corpus, protocol)[0]


def test_wave_augments_only_ever_see_training_utterances(corpus_and_fold, small_data, monkeypatch):
    corpus, fold = corpus_and_fold
    before = corpus.features.clone()
    seen: list[str] = []
    real = augment_module.extract

    def spy(jobs, data, *args, **kwargs):
        seen.extend(job.path for job in jobs)
        return real(jobs, data, *args, **kwargs)

    monkeypatch.setattr(augment_module, "extract", spy)
    data = small_data(
        "synthetic",
        None,
        "data.augment=[noise,time_shift,speed,specaugment]",
        "data.augment_copies=2",
    )
    x, y = training_set(corpus, fold, data, seed=0, registry=get_registry())
    train_paths = {str(corpus.utterances[i].path) for i in fold.train}
    held_out = {str(corpus.utterances[i].path) for i in [*fold.val, *fold.test]}
    assert set(seen) == train_paths and not set(seen) & held_out
    assert len(seen) == 2 * len(fold.train)
    assert x.shape == (3 * len(fold.train), 32, 16)
    assert torch.equal(y, corpus.labels[fold.train].repeat(3))
    assert torch.equal(x[: len(fold.train)], corpus.features[fold.train])
    assert not torch.equal(x[len(fold.train) :], corpus.features[fold.train].repeat(2, 1, 1))
    assert torch.equal(corpus.features, before)


def test_augmented_copies_are_cached_and_seeded(corpus_and_fold, small_data, monkeypatch):
    corpus, fold = corpus_and_fold
    data = small_data("synthetic", None, "data.augment=[noise]", "data.augment_copies=1")
    first, _ = training_set(corpus, fold, data, seed=0, registry=get_registry())
    runs = {"n": 0}
    real = augment_module.extract.__globals__["_run"]

    def counting(job):
        runs["n"] += 1
        return real(job)

    monkeypatch.setattr("ablate.data.pipeline._run", counting)
    again, _ = training_set(corpus, fold, data, seed=0, registry=get_registry())
    assert runs["n"] == 0 and torch.equal(first, again)
    other, _ = training_set(corpus, fold, data, seed=1, registry=get_registry())
    assert runs["n"] == len(fold.train) and not torch.equal(first, other)


def test_no_wave_augment_or_no_copies_is_just_the_training_features(corpus_and_fold, small_data):
    corpus, fold = corpus_and_fold
    for overrides in (("data.augment=[mixup]", "data.augment_copies=3"), ("data.augment=[noise]",)):
        x, y = training_set(
            corpus, fold, small_data("synthetic", None, *overrides), seed=0, registry=get_registry()
        )
        assert torch.equal(x, corpus.features[fold.train])
        assert torch.equal(y, corpus.labels[fold.train])


def test_batch_augmenter_identity_specaugment_and_mixup(small_data):
    x = torch.randn(4, 1, 32, 16)
    y = torch.eye(4)
    generator = torch.Generator().manual_seed(0)
    identity = BatchAugmenter(small_data("synthetic"), registry=get_registry())
    assert not identity.active
    same_x, same_y = identity(x, y, generator)
    assert same_x is x and same_y is y

    data = small_data(
        "synthetic",
        None,
        "data.augment=[specaugment,mixup,noise]",
        "data.augment_args={specaugment: {freq_width: 8, time_width: 4}, mixup: {alpha: 0.4}}",
    )
    augmenter = BatchAugmenter(data, registry=get_registry())
    assert augmenter.active and len(augmenter.feature) == 1 and len(augmenter.batch) == 1
    original = x.clone()
    out_x, out_y = augmenter(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(x, original), "the input batch is not modified in place"
    assert out_x.shape == x.shape and not torch.equal(out_x, x)
    assert torch.allclose(out_y.sum(1), torch.ones(4))
    masks = build_slot("data.augment", "specaugment", {"freq_width": 8}, None, get_registry())
    masked = masks(torch.ones(2, 1, 32, 16), torch.Generator().manual_seed(3))
    assert (masked == 0).any() and (masked == 1).any()


def test_augment_arguments_are_validated_with_their_key(small_data):
    data = small_data(
        "synthetic", None, "data.augment=[mixup]", "data.augment_args={mixup: {beta: 1}}"
    )
    with pytest.raises(AblateError, match=r"data\.augment_args\.mixup\.beta"):
        BatchAugmenter(data, registry=get_registry())
    with pytest.raises(AblateError, match="unknown augment 'wobble'"):
        BatchAugmenter(
            small_data("synthetic", None, "data.augment=[wobble]"), registry=get_registry()
        )


def test_wave_augments_shift_add_noise_and_change_speed():
    registry = get_registry()
    wave = torch.sin(torch.linspace(0, 600, 16000))
    g = torch.Generator().manual_seed(0)
    shifted = build_slot("data.augment", "time_shift", {"max_seconds": 0.1}, None, registry)(
        wave, 16000, g
    )
    assert shifted.shape == wave.shape and not torch.equal(shifted, wave)
    noisy = build_slot("data.augment", "noise", {"snr_db": 10.0}, None, registry)(wave, 16000, g)
    snr = 10 * torch.log10(wave.pow(2).mean() / (noisy - wave).pow(2).mean())
    assert abs(float(snr) - 10.0) < 0.5
    fast = build_slot("data.augment", "speed", {"low": 1.2, "high": 1.2}, None, registry)(
        wave, 16000, g
    )
    assert abs(len(fast) - 16000 / 1.2) < 2


def test_frame_shift_moves_each_example_by_at_most_max_frames():
    shift = build_slot("data.augment", "frame_shift", {"max_frames": 3}, None, get_registry())
    x = torch.arange(10.0).repeat(64, 1, 2, 1) + 1.0  # value = frame index + 1
    out = shift(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    moved = set()
    for row in out[:, 0, 0]:
        inside = row[row != 1.0]  # shifted-in frames hold the example's minimum (1.0)
        offset = int(inside[0].item()) - int(row.tolist().index(inside[0].item())) - 1
        assert -3 <= offset <= 3
        moved.add(offset)
    assert len(moved) > 3  # drawn per example
