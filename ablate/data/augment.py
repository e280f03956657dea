"""Applying augmentations to training folds only.

Stages: ``wave`` augments make extra copies of each training utterance before feature
extraction (``data.augment_copies`` per utterance, cached like features); ``feature`` and
``batch`` augments act on normalised mini-batches inside the training loop. Validation
and test indices are never passed to any augment.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from omegaconf import DictConfig

from ablate.contracts import Augment
from ablate.data.cache import file_hash, key_of
from ablate.data.inputs import make_extractor
from ablate.data.pipeline import Corpus, Job, extract
from ablate.data.splits import Fold
from ablate.errors import AblateError
from ablate.registry import Registry
from ablate.slots import SLOTS, build_chosen


def build_augments(data: DictConfig, stage: str, registry: Registry) -> list[Augment]:
    """The augments of ``data.augment`` in ``stage``, built with their checked arguments."""
    return [a for a in build_chosen("data.augment", data, None, registry) if a.stage == stage]


def training_set(
    corpus: Corpus, fold: Fold, data: DictConfig, seed: int, registry: Registry
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of ``fold.train`` plus ``data.augment_copies`` wave-augmented
    copies of each (re-decoded, augmented, extracted; cached by content, augment config,
    copy index and seed)."""
    features, labels = corpus.features[fold.train], corpus.labels[fold.train]
    chosen = SLOTS["data.augment"].read(data)
    built = build_chosen("data.augment", data, None, registry)
    wave = [
        (name, args) for (name, args), a in zip(chosen, built, strict=True) if a.stage == "wave"
    ]
    wave_augments = [a for a in built if a.stage == "wave"]
    copies = int(data.augment_copies)
    if not wave or copies <= 0:
        return features, labels
    augments = tuple((name, tuple(sorted(args.items()))) for name, args in wave)
    settings = make_extractor(data).settings()
    jobs = []
    for copy in range(1, copies + 1):
        for index in fold.train:
            utterance = corpus.utterances[index]
            digest = corpus.hashes[index] if corpus.hashes else file_hash(utterance.path)
            job_seed = int(key_of("seed", seed, digest, copy)[:8], 16)
            key = key_of("augmented", digest, settings, augments, copy, seed)
            jobs.append(Job(str(utterance.path), key, augments, job_seed))
    outputs = extract(jobs, data, description="augmented copies", augments=wave_augments)
    failed = [
        job.path for job, output in zip(jobs, outputs, strict=True) if isinstance(output, str)
    ]
    if failed:
        raise AblateError(f"augmentation: {failed[0]} could not be decoded again")
    extra = torch.stack(outputs)
    return torch.cat([features, extra]), torch.cat([labels, labels.repeat(copies)])


class BatchAugmenter:
    """The ``feature`` then ``batch`` stage augments of ``data.augment``, for training
    mini-batches only; the identity when none is chosen."""

    def __init__(self, data: DictConfig, registry: Registry):
        self.feature = build_augments(data, "feature", registry)
        self.batch = build_augments(data, "batch", registry)

    @property
    def active(self) -> bool:
        """Whether any augment is applied (otherwise calls return their input)."""
        return bool(self.feature or self.batch)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for augment in self.feature:
            x = augment(x, generator)
        for augment in self.batch:
            x, y = augment(x, y, generator)
        return x, y


def augment_before_split(corpus: Corpus, data: DictConfig, seed: int, registry: Registry) -> Corpus:
    """The corpus plus ``data.augment_copies`` augmented copies of EVERY utterance, made
    before any split: the protocol of papers that report random splits of augmented data.

    Copies of one recording then land on both sides of a random split, so test scores are
    inflated. ablate never does this unless ``protocol.augment_before_split`` asks for it,
    to show the leak beside an honest protocol; such trials are tagged as leaky.
    """
    everything = np.arange(len(corpus))
    whole = Fold(0, everything, everything[:0], everything[:0], False, [], [])
    features, labels = training_set(corpus, whole, data, seed, registry)
    copies = len(labels) // len(corpus)
    if copies < 2:
        raise AblateError(
            "protocol.augment_before_split: needs data.augment with a wave augment "
            "and data.augment_copies >= 1"
        )
    return replace(
        corpus,
        features=features,
        labels=labels,
        speakers=corpus.speakers * copies,
        utterances=corpus.utterances * copies,
        hashes=corpus.hashes * copies,
        fingerprint=key_of(corpus.fingerprint, "augmented-before-split", copies, seed),
    )
