"""One fold's inputs and helpers: seeding, normalised splits, model building, fitting."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ablate.data.augment import BatchAugmenter, training_set
from ablate.data.features import fit_normalizer
from ablate.data.inputs import input_shape
from ablate.data.normalize import check_norm, lengths, normalise, speaker_stats
from ablate.data.pipeline import Corpus
from ablate.data.splits import Fold
from ablate.models.build import build_model
from ablate.registry import Registry
from ablate.training.engine import Split, evaluate, fit, resolve_device

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def rng_preserved(device: torch.device) -> Iterator[None]:
    """Run the block without moving the global random streams (Python, NumPy, torch)."""
    python, numpy = random.getstate(), np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(python)
    np.random.set_state(numpy)


def timed(fn: Callable[..., T], *args) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took."""
    started = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - started


class FoldRun:
    """The tensors, model and bookkeeping of one fold.

    Inputs are normalised by ``data.norm``; with ``speaker``, each speaker's statistics
    come from all of that speaker's utterances in the corpus (no label is read), so a
    training utterance's augmented copies share their speaker's statistics. The global
    training-fold ``mean`` and ``std`` are kept in every case (a saved model's record).
    """

    def __init__(self, config: DictConfig, corpus: Corpus, fold: Fold, registry: Registry):
        self.config, self.corpus, self.fold, self.registry = config, corpus, fold, registry
        self.device = resolve_device(config.train.device)
        self.seed = config.train.seed * 1_000 + fold.index
        self.norm = check_norm(config.data.norm)
        seed_everything(self.seed)
        train_x, train_y = training_set(corpus, fold, config.data, config.train.seed, registry)
        self.mean, self.std = fit_normalizer(train_x)
        self.stats = None
        if self.norm == "speaker":
            self.stats = speaker_stats(corpus.features, corpus.speakers)
        speakers = [corpus.speakers[i] for i in fold.train]
        train_speakers = speakers * (len(train_y) // max(1, len(speakers)))
        self.train = self.split(train_x, train_y, train_speakers)
        self.val = self.split(*self._part(fold.val))
        test_x, test_y, self.test_speakers = self._part(fold.test)
        self.test = self.split(test_x, test_y, self.test_speakers)
        self.augmenter = BatchAugmenter(config.data, registry)
        self.labels = corpus.label_names
        self.notes: list[str] = []

    def _part(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        speakers = [self.corpus.speakers[i] for i in index]
        return self.corpus.features[index], self.corpus.labels[index], speakers

    def split(self, x: torch.Tensor, y: torch.Tensor, speakers: list[str]) -> Split:
        frames = lengths(x)
        x = normalise(
            x, self.norm, speakers=speakers, mean=self.mean, std=self.std, stats=self.stats
        )
        window = input_shape(self.config.data)[1]
        return Split(x.unsqueeze(1).to(self.device), y.to(self.device), frames, window)

    def model(self, section: str) -> nn.Module:
        """The model of config ``section``: ``model`` or ``distill.teacher``."""
        model = build_model(
            OmegaConf.select(self.config, section),
            *input_shape(self.config.data),
            len(self.labels),
            self.registry,
            section,
        )
        model = model.to(self.device)
        return torch.compile(model) if self.config.train.compile else model

    def fit(self, model: nn.Module, **kwargs):
        return fit(
            model,
            self.train,
            self.val,
            self.labels,
            self.config.train,
            fold=self.fold.index,
            augmenter=self.augmenter,
            **kwargs,
        )

    def scores(self, model: nn.Module, split: Split, speakers: Sequence[str] = ()) -> dict:
        """``model``'s metrics on ``split`` (the fold's test or validation side), and with
        ``speakers`` each speaker's own (``per_group``)."""
        cfg = self.config.train
        return evaluate(model, split, self.labels, cfg.batch_size * 2, cfg.amp, speakers)

    def test_metrics(self, model: nn.Module) -> dict:
        """The test metrics, and each test speaker's own (``per_group``)."""
        return self.scores(model, self.test, [str(s) for s in self.test_speakers])
