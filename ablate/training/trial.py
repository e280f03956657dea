"""One trial: a configuration trained and evaluated on every fold of its protocol."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ablate.data.augment import BatchAugmenter, augment_before_split, training_set
from ablate.data.cache import cache_root
from ablate.data.features import fit_normalizer
from ablate.data.pipeline import Corpus, load_corpus
from ablate.data.splits import Fold, check_split
from ablate.errors import first_line
from ablate.locks import file_lock
from ablate.models.build import build_model
from ablate.models.flops import forward_flops, parameter_count
from ablate.plugins import Registry, get_registry
from ablate.slots import TEACHER
from ablate.training import distill
from ablate.training.engine import (
    Reporter,
    Split,
    TrialFailed,
    cross_entropy,
    evaluate,
    fit,
    resolve_device,
)
from ablate.training.metrics import TEST_METRICS as METRICS
from ablate.training.metrics import summarise

__all__ = ["FoldResult", "Reporter", "TrialFailed", "TrialResult", "run_trial"]

T = TypeVar("T")


@dataclass
class FoldResult:
    fold: int
    test_speakers: list[str]
    metrics: dict[str, float]
    per_class_recall: dict[str, float]
    confusion: list[list[int]]
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float
    compute_seconds: float
    #: forward passes outside the training steps: validation, test, teacher targets
    eval_seconds: float
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    #: the teacher's own test metrics when distilling
    teacher_metrics: dict[str, float] = field(default_factory=dict)
    #: the seconds the teacher's training took, wherever and whenever it was trained
    teacher_seconds: float = 0.0
    #: wall time this fold spent getting its teacher, left out of ``seconds``
    teacher_wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class TrialResult:
    folds: list[FoldResult]
    summary: dict[str, float]
    label_names: list[str]
    params: int
    gflops: float
    speaker_independent: bool
    fingerprint: str
    split: list[dict]
    #: wall time, less the time spent getting distillation teachers (``teacher_seconds``)
    seconds: float
    compute_seconds: float
    eval_seconds: float
    skipped: list[tuple[str, str]]
    #: what a component did beyond its name, e.g. a learned feature projection
    notes: list[str] = field(default_factory=list)
    #: the distillation teacher's size (0 without distillation)
    teacher_params: int = 0
    teacher_gflops: float = 0.0


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


def _timed(fn: Callable[..., T], *args) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took."""
    started = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - started


def _to_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class FoldRun:
    """The tensors, model and bookkeeping of one fold."""

    def __init__(self, config: DictConfig, corpus: Corpus, fold: Fold, registry: Registry):
        self.config, self.corpus, self.fold, self.registry = config, corpus, fold, registry
        self.device = resolve_device(config.train.device)
        self.seed = config.train.seed * 1_000 + fold.index
        seed_everything(self.seed)
        train_x, train_y = training_set(corpus, fold, config.data, config.train.seed, registry)
        self.mean, self.std = fit_normalizer(train_x)
        self.train = self.split(train_x, train_y)
        self.val = self.split(corpus.features[fold.val], corpus.labels[fold.val])
        self.test = self.split(corpus.features[fold.test], corpus.labels[fold.test])
        self.augmenter = BatchAugmenter(config.data, registry)
        self.labels = corpus.label_names
        self.notes: list[str] = []

    def split(self, x: torch.Tensor, y: torch.Tensor) -> Split:
        x = ((x - self.mean) / self.std).unsqueeze(1)
        return Split(x.to(self.device), y.to(self.device))

    def model(self, section: str) -> nn.Module:
        """The model of config ``section``: ``model`` or ``distill.teacher``."""
        data = self.config.data
        model = build_model(
            OmegaConf.select(self.config, section),
            data.n_mels,
            data.frames,
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

    def test_metrics(self, model: nn.Module) -> dict:
        cfg = self.config.train
        return evaluate(model, self.test, self.labels, cfg.batch_size * 2, cfg.amp)


def _teacher(run: FoldRun, reporter: Reporter | None, cache_dir: Path) -> tuple[nn.Module, float]:
    """The fold's teacher, loaded from the cache or trained once and cached, and the
    seconds its training took (also when another trial or worker trained it)."""
    config = run.config
    seed_everything(run.seed)  # the teacher depends on its cache key only
    teacher = run.model(TEACHER)
    split = {k: getattr(run.fold, k).tolist() for k in ("train", "val")}
    key = distill.teacher_key(config, run.corpus.fingerprint, split)
    with file_lock(cache_dir / f"teacher-{key}.lock"):
        seconds = distill.load_teacher(teacher, cache_dir, key)
        if seconds is not None:
            return teacher.to(run.device), seconds
        outcome = run.fit(
            teacher,
            epochs=config.distill.teacher_epochs,
            loss_fn=cross_entropy(config.train.label_smoothing),
            stage="teacher",
            reporter=reporter,
        )
        distill.save_teacher(teacher, cache_dir, key, outcome.compute_seconds)
    return teacher, outcome.compute_seconds


@dataclass
class Trained:
    """What training one fold produced (the teacher fields only when distilling)."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    compute_seconds: float
    eval_seconds: float
    teacher_metrics: dict[str, float] = field(default_factory=dict)
    teacher_seconds: float = 0.0
    #: wall time spent getting the teacher (training it, or waiting for another worker)
    teacher_wall_seconds: float = 0.0


def train_fold(run: FoldRun, reporter: Reporter | None, teacher_cache: Path) -> Trained:
    """Train the fold's model; with distillation, train or load its teacher first.

    The teacher's training counts as the teacher's time, never as the student's, and it
    leaves the random streams where they were: each arm's cost and metrics are the same
    whether its trial trained the shared teacher or loaded it."""
    config = run.config
    ce = cross_entropy(config.train.label_smoothing)
    if not config.distill.enabled:
        model = run.model("model")
        outcome = run.fit(
            model, epochs=config.train.epochs, loss_fn=ce, stage="train", reporter=reporter
        )
        return Trained(
            model,
            outcome.history,
            outcome.best_epoch,
            outcome.compute_seconds,
            outcome.eval_seconds,
        )

    started = time.perf_counter()
    with rng_preserved(run.device):
        teacher, teacher_seconds = _teacher(run, reporter, teacher_cache)
    teacher_wall = time.perf_counter() - started
    model = run.model("model")
    compute = evaluating = 0.0
    teacher_metrics = {}
    if len(run.test):
        metrics, evaluating = _timed(run.test_metrics, teacher)
        teacher_metrics = {m: metrics[m] for m in METRICS}
    loss = distill.build_distill_loss(
        run.registry, config, model.feature_dim, teacher.feature_dim, len(run.labels)
    ).to(run.device)
    targets, seconds = _timed(
        distill.TeacherTargets,
        teacher,
        run.train.x,
        not run.augmenter.active,
        config.train.batch_size * 2,
    )
    evaluating += seconds
    extra = list(loss.parameters())
    if loss.note:
        run.notes.append(f"distill_loss {config.distill.loss}: {loss.note}")
    history = []
    if loss.active and config.distill.feature_epochs > 0:
        outcome = run.fit(
            model,
            epochs=config.distill.feature_epochs,
            loss_fn=distill.matching_loss(loss, targets),
            stage="feature",
            reporter=reporter,
            extra_params=extra,
            select=False,
        )
        history += outcome.history
        compute += outcome.compute_seconds
        evaluating += outcome.eval_seconds
    finetune = (
        distill.finetune_loss(loss, targets, config.distill.alpha, config.train.label_smoothing)
        if loss.active
        else ce
    )
    outcome = run.fit(
        model,
        epochs=config.distill.finetune_epochs,
        loss_fn=finetune,
        stage="finetune",
        reporter=reporter,
        extra_params=extra,
    )
    history += outcome.history
    compute += outcome.compute_seconds
    evaluating += outcome.eval_seconds
    return Trained(
        model,
        history,
        outcome.best_epoch,
        compute,
        evaluating,
        teacher_metrics,
        teacher_seconds,
        teacher_wall,
    )


@contextmanager
def out_of_memory_fails(where: str):
    """A failed allocation (CUDA or host) inside the block becomes :class:`TrialFailed`."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise TrialFailed(f"out of memory in {where}: {first_line(exc)}") from None
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc):
            raise
        raise TrialFailed(f"out of memory in {where}: {first_line(exc)}") from None


def run_fold(
    config: DictConfig,
    corpus: Corpus,
    fold: Fold,
    registry: Registry,
    reporter: Reporter | None,
    teacher_cache: Path,
) -> FoldResult:
    started = time.perf_counter()
    run = FoldRun(config, corpus, fold, registry)
    with out_of_memory_fails(f"fold {fold.index}"):
        trained = train_fold(run, reporter, teacher_cache)
    metrics, testing = _timed(run.test_metrics, trained.model)
    return FoldResult(
        fold=fold.index,
        test_speakers=list(fold.test_speakers),
        metrics={m: metrics[m] for m in METRICS},
        per_class_recall=metrics["per_class_recall"],
        confusion=metrics["confusion"],
        history=trained.history,
        best_epoch=trained.best_epoch,
        seconds=time.perf_counter() - started - trained.teacher_wall_seconds,
        compute_seconds=trained.compute_seconds,
        eval_seconds=trained.eval_seconds + testing,
        state_dict=_to_cpu(trained.model),
        teacher_metrics=trained.teacher_metrics,
        teacher_seconds=trained.teacher_seconds,
        teacher_wall_seconds=trained.teacher_wall_seconds,
        notes=run.notes,
    )


def _summary(results: list[FoldResult]) -> dict[str, float]:
    summary = {}
    for metric in METRICS:
        for stat, value in summarise([r.metrics[metric] for r in results]).items():
            summary[f"test_{metric}_{stat}"] = value
        if results[0].teacher_metrics:
            teacher = summarise([r.teacher_metrics[metric] for r in results])
            summary[f"teacher_test_{metric}_mean"] = teacher["mean"]
    return summary


def run_trial(
    config: DictConfig,
    *,
    corpus: Corpus | None = None,
    reporter: Reporter | None = None,
    teacher_cache: Path | None = None,
) -> TrialResult:
    """Train and test ``config`` on every fold; metrics are summarised across folds."""
    started = time.perf_counter()
    registry = get_registry()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    corpus = corpus if corpus is not None else load_corpus(config.data, registry)
    leaky = config.protocol.augment_before_split
    if leaky:
        corpus = augment_before_split(corpus, config.data, config.train.seed, registry)
        config = OmegaConf.merge(config, {"data": {"augment_copies": 0}})
    folds = check_split(corpus, config.protocol)
    data = config.data
    n_classes = len(corpus.label_names)
    with out_of_memory_fails("building the model"):
        probe = build_model(config.model, data.n_mels, data.frames, n_classes, registry)
        teacher = (
            build_model(
                config.distill.teacher, data.n_mels, data.frames, n_classes, registry, TEACHER
            )
            if config.distill.enabled
            else None
        )
        if teacher is not None:  # its contract is checked before any teacher trains
            distill.build_distill_loss(
                registry, config, probe.feature_dim, teacher.feature_dim, n_classes
            )
    teacher_cache = teacher_cache or cache_root(data) / "teachers"
    results = []
    for fold in folds:
        result = run_fold(config, corpus, fold, registry, reporter, teacher_cache)
        results.append(result)
        if reporter is not None:
            reporter.fold_done(result)
    return TrialResult(
        folds=results,
        summary=_summary(results),
        label_names=list(corpus.label_names),
        params=parameter_count(probe),
        gflops=forward_flops(probe, data.n_mels, data.frames) / 1e9,
        speaker_independent=not leaky and all(f.speaker_independent for f in folds),
        fingerprint=corpus.fingerprint,
        split=[
            {
                "fold": f.index,
                "test_speakers": list(f.test_speakers),
                "val_speakers": list(f.val_speakers),
                "train": len(f.train),
                "val": len(f.val),
                "test": len(f.test),
            }
            for f in folds
        ],
        seconds=time.perf_counter() - started - sum(r.teacher_wall_seconds for r in results),
        compute_seconds=sum(r.compute_seconds for r in results),
        eval_seconds=sum(r.eval_seconds for r in results),
        skipped=list(corpus.skipped),
        notes=sorted({note for r in results for note in r.notes}),
        teacher_params=parameter_count(teacher) if teacher else 0,
        teacher_gflops=forward_flops(teacher, data.n_mels, data.frames) / 1e9 if teacher else 0.0,
    )
