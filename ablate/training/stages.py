"""Training one fold's model: directly, or distilled from a teacher trained (or loaded
from the cache) first. The teacher may be any preset, the reference CNN included."""

from __future__ import annotations

import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ablate.checks.losses import wanted
from ablate.locks import file_lock
from ablate.slots import TEACHER
from ablate.training import distill
from ablate.training.engine import Reporter, cross_entropy
from ablate.training.fold import FoldRun, rng_preserved, seed_everything, timed
from ablate.training.metrics import TEST_METRICS as METRICS


def _teacher(run: FoldRun, reporter: Reporter | None, cache_dir: Path) -> tuple[nn.Module, float]:
    """The fold's teacher, loaded from the cache or trained once and cached, and the
    seconds its training took (also when another trial or worker trained it)."""
    config = run.config
    seed_everything(run.seed)  # the teacher depends on its cache key only
    teacher = run.model(TEACHER)
    split = {k: getattr(run.fold, k).tolist() for k in ("train", "val")}
    key = distill.teacher_key(config, run.corpus.fingerprint, split)
    held, cache = ExitStack(), cache_dir
    try:
        held.enter_context(file_lock(cache_dir / f"teacher-{key}.lock"))
    except OSError as exc:  # a read-only HOME: train it, uncached
        warnings.warn(
            f"teacher cache {cache_dir}: cannot write ({exc.strerror or exc}); the teacher "
            "is trained but not cached (set data.cache_dir or ABLATE_CACHE_DIR to a "
            "writable folder)",
            stacklevel=2,
        )
        cache = None
    with held:
        seconds = distill.load_teacher(teacher, cache, key) if cache else None
        if seconds is not None:
            return teacher.to(run.device), seconds
        outcome = run.fit(
            teacher,
            epochs=config.distill.teacher_epochs,
            loss_fn=cross_entropy(config.train.label_smoothing),
            stage="teacher",
            reporter=reporter,
        )
        if cache:
            distill.save_teacher(teacher, cache, key, outcome.compute_seconds)
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
    #: the teacher's test metrics per test speaker
    teacher_speaker_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    teacher_seconds: float = 0.0
    #: wall time spent getting the teacher (training it, or waiting for another worker)
    teacher_wall_seconds: float = 0.0
    teacher: nn.Module | None = None


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
    teacher_metrics, teacher_speakers = {}, {}
    if len(run.test):
        metrics, evaluating = timed(run.test_metrics, teacher)
        teacher_metrics = {m: metrics[m] for m in METRICS}
        teacher_speakers = metrics.get("per_group", {})
    shape = distill.distill_shape(model, teacher, len(run.labels))
    loss = distill.build_distill_loss(run.registry, config, shape).to(run.device)
    needed = wanted(loss)
    targets, seconds = timed(
        distill.TeacherTargets,
        teacher,
        run.train.x,
        not (run.augmenter.active or run.train.wide),
        config.train.batch_size * 2,
        needed,
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
            intermediates=needed,
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
        intermediates=needed if loss.active else frozenset(),
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
        teacher_speakers,
        teacher_seconds,
        teacher_wall,
        teacher,
    )
