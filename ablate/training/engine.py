"""The epoch loop: AdamW, warm-up + cosine, label smoothing, clipping, validation selection."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from ablate.training.metrics import classification_metrics

#: ``loss_fn(x, batch_index, logits, feature, soft_targets) -> scalar``
LossFn = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor
]


class TrialFailed(Exception):
    """The trial cannot produce a result (non-finite loss, out of memory); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Reporter(Protocol):
    """Receives progress; ``epoch`` may raise ``optuna.TrialPruned`` to stop a trial."""

    def epoch(self, fold: int, stage: str, epoch: int, metrics: dict[str, float]) -> None: ...

    def fold_done(self, result) -> None: ...


class Augmenter(Protocol):
    active: bool

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class Split:
    """Normalised inputs ``(N, 1, H, W)`` and integer labels, on the training device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class FitOutcome:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    #: training steps: forward, loss, backward, clipping, optimiser and schedule steps
    compute_seconds: float = 0.0
    #: validation after each epoch: forward passes and metrics
    eval_seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA; full precision on the CPU (bit-reproducible there)."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int):
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cross_entropy(label_smoothing: float) -> LossFn:
    def loss(x, index, logits, feature, targets):
        return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)

    return loss


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int, amp: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and pooled features for ``x`` in evaluation mode, as float32 on ``x``'s device."""
    model.eval()
    logits, features = [], []
    for chunk in x.split(batch_size):
        with autocast(chunk.device, amp):
            out_logits, out_features = model(chunk)
        logits.append(out_logits.float())
        features.append(out_features.float())
    return torch.cat(logits), torch.cat(features)


def evaluate(model: nn.Module, split: Split, label_names: list[str], batch_size: int, amp: bool):
    """Metrics (uar, war, f1, per-class recall, confusion) and mean CE loss on ``split``."""
    logits, _ = predict(model, split.x, batch_size, amp)
    metrics = classification_metrics(
        split.y.cpu().numpy(), logits.argmax(-1).cpu().numpy(), label_names
    )
    metrics["loss"] = float(F.cross_entropy(logits, split.y))
    return metrics


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    label_names: list[str],
    train_cfg: DictConfig,
    *,
    epochs: int,
    loss_fn: LossFn,
    stage: str,
    fold: int,
    augmenter: Augmenter,
    reporter: Reporter | None,
    extra_params: list[nn.Parameter] = (),
    select: bool = True,
) -> FitOutcome:
    """Train ``model`` for ``epochs``; keep the weights of the best validation UA.

    ``select=False`` keeps the last epoch (feature matching has no label objective).
    A non-finite loss raises :class:`TrialFailed`.
    """
    device = train.x.device
    cfg = train_cfg
    params = [p for p in model.parameters() if p.requires_grad] + list(extra_params)
    # The fused kernel updates every tensor in one pass: 4x faster than the per-tensor
    # loop on the CPU (about 2% of a student's step).
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    batches = len(train) // cfg.batch_size + (len(train) % cfg.batch_size > 1)
    schedule = warmup_cosine(optimizer, cfg.warmup_epochs * batches, epochs * batches)
    generator = torch.Generator().manual_seed(cfg.seed * 1_000 + fold)
    num_classes = len(label_names)
    outcome = FitOutcome()
    best_key, best_state, since_best = (-1.0, 0.0), None, 0

    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator).to(device)
        total_loss, seen = 0.0, 0
        for index in order.split(cfg.batch_size):
            if len(index) < 2:  # a lone sample breaks BatchNorm and adds only noise
                continue
            x, targets = augmenter(
                train.x[index], F.one_hot(train.y[index], num_classes).float(), generator
            )
            _sync(device)
            tick = time.perf_counter()
            with autocast(device, cfg.amp):
                logits, feature = model(x)
                loss = loss_fn(x, index, logits, feature, targets)
            if not torch.isfinite(loss):
                raise TrialFailed(
                    f"non-finite loss ({loss.item()}) in {stage}, fold {fold}, epoch {epoch}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            schedule.step()
            _sync(device)
            outcome.compute_seconds += time.perf_counter() - tick
            total_loss += loss.item() * len(index)
            seen += len(index)

        tick = time.perf_counter()
        val_metrics = evaluate(model, val, label_names, cfg.batch_size * 2, cfg.amp)
        outcome.eval_seconds += time.perf_counter() - tick
        record = {
            "epoch": epoch,
            "train_loss": total_loss / max(1, seen),
            "val_loss": val_metrics["loss"],
            "val_uar": val_metrics["uar"],
            "val_war": val_metrics["war"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        outcome.history.append({"stage": stage, **record})
        if reporter is not None:
            reporter.epoch(fold, stage, epoch, record)
        key = (val_metrics["uar"], -val_metrics["loss"])
        if key > best_key:
            best_key, since_best, outcome.best_epoch = key, 0, epoch
            if select:
                best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if cfg.patience and since_best >= cfg.patience:
                break
    if select and best_state is not None:
        model.load_state_dict(best_state)
    elif not select:
        outcome.best_epoch = len(outcome.history)
    return outcome
