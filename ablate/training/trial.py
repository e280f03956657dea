"""One trial: a configuration trained and evaluated on every fold of its protocol."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from ablate.data.augment import augment_before_split
from ablate.data.cache import cache_root
from ablate.data.inputs import input_shape
from ablate.data.pipeline import Corpus, load_corpus
from ablate.data.splits import Fold, check_split
from ablate.errors import first_line
from ablate.models.flops import forward_flops, parameter_count
from ablate.registry import Registry
from ablate.training.engine import Reporter, TrialFailed
from ablate.training.fold import FoldRun, timed
from ablate.training.metrics import summarise
from ablate.training.preflight import check_config
from ablate.training.stages import METRICS, Trained, train_fold

__all__ = ["FoldResult", "Reporter", "TrialFailed", "TrialResult", "run_trial"]


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
    #: the fold's validation speakers scored by the weights the fold ends with (what a
    #: choice between trials may read without touching the test side); empty without them
    val_metrics: dict[str, float] = field(default_factory=dict)
    #: the teacher's own test metrics when distilling
    teacher_metrics: dict[str, float] = field(default_factory=dict)
    #: each test speaker's own metrics (uar, war, f1), and the teacher's
    speaker_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    teacher_speaker_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the seconds the teacher's training took, wherever and whenever it was trained
    teacher_seconds: float = 0.0
    #: wall time this fold spent getting its teacher, left out of ``seconds``
    teacher_wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: the sizes of the fold's model and teacher (measured on the first fold only)
    sizes: dict[str, float] = field(default_factory=dict)


def _sizes(trained: Trained, n_mels: int, frames: int) -> dict[str, float]:
    """Trainable parameters and counted forward GFLOPs of the model and its teacher."""
    sizes = {}
    for prefix, model in (("", trained.model), ("teacher_", trained.teacher)):
        if model is not None:
            sizes[f"{prefix}params"] = parameter_count(model, trainable=False)
            sizes[f"{prefix}gflops"] = forward_flops(model, n_mels, frames) / 1e9
    return sizes


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


def _to_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


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
    measure: bool = False,
) -> FoldResult:
    """Train and test one fold; ``measure`` also records the models' sizes."""
    started = time.perf_counter()
    run = FoldRun(config, corpus, fold, registry)
    with out_of_memory_fails(f"fold {fold.index}"):
        trained = train_fold(run, reporter, teacher_cache)
    metrics, testing = timed(run.test_metrics, trained.model)
    sizes = _sizes(trained, *input_shape(config.data)) if measure else {}
    validation, validating = {}, 0.0
    if len(run.val):
        validation, validating = timed(run.scores, trained.model, run.val)
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
        eval_seconds=trained.eval_seconds + testing + validating,
        state_dict=_to_cpu(trained.model),
        val_metrics={m: validation[m] for m in METRICS if m in validation},
        teacher_metrics=trained.teacher_metrics,
        speaker_metrics=metrics.get("per_group", {}),
        teacher_speaker_metrics=trained.teacher_speaker_metrics,
        teacher_seconds=trained.teacher_seconds,
        teacher_wall_seconds=trained.teacher_wall_seconds,
        notes=run.notes,
        sizes=sizes,
    )


def _summary(results: list[FoldResult]) -> dict[str, float]:
    """Test metrics over folds, the teacher's test UA, and the final training loss (mean
    over folds of the last epoch's): beside test UA it shows how far an arm fit its
    training set (at the label-smoothing floor, about 0.45 with 7 classes, it memorised)."""
    summary = {}
    finals = [r.history[-1]["train_loss"] for r in results if r.history]
    if finals:
        summary["train_loss_final_mean"] = sum(finals) / len(finals)
    for metric in METRICS:
        for stat, value in summarise([r.metrics[metric] for r in results]).items():
            summary[f"test_{metric}_{stat}"] = value
        if results[0].teacher_metrics:
            teacher = summarise([r.teacher_metrics[metric] for r in results])
            summary[f"teacher_test_{metric}_mean"] = teacher["mean"]
    return summary


def run_trial(
    config: DictConfig,
    registry: Registry,
    *,
    corpus: Corpus | None = None,
    reporter: Reporter | None = None,
    teacher_cache: Path | None = None,
) -> TrialResult:
    """Train and test ``config`` (presets resolved) on every fold; metrics are summarised
    across folds. Every plugin is checked first (:func:`.preflight.check_config`, a
    dry run), so a broken part fails before any teacher or fold trains."""
    started = time.perf_counter()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    corpus = corpus if corpus is not None else load_corpus(config.data, registry)
    leaky = config.protocol.augment_before_split
    if leaky:
        corpus = augment_before_split(corpus, config.data, config.train.seed, registry)
        config = OmegaConf.merge(config, {"data": {"augment_copies": 0}})
    folds = check_split(corpus, config.protocol)
    check_config(config, len(corpus.label_names), registry)
    teacher_cache = teacher_cache or cache_root(config.data) / "teachers"
    results = []
    for fold in folds:
        measure = not results
        result = run_fold(config, corpus, fold, registry, reporter, teacher_cache, measure)
        results.append(result)
        if reporter is not None:
            reporter.fold_done(result)
    return TrialResult(
        folds=results,
        summary=_summary(results),
        label_names=list(corpus.label_names),
        params=int(results[0].sizes["params"]),
        gflops=results[0].sizes["gflops"],
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
        teacher_params=int(results[0].sizes.get("teacher_params", 0)),
        teacher_gflops=results[0].sizes.get("teacher_gflops", 0.0),
    )
