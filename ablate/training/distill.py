"""Knowledge distillation as in Kim & Lee (2024): teacher CE, feature matching, fine-tuning.

A trained teacher is cached on disk under a key of its model config, training settings,
data fingerprint and fold split, so every student arm and trial sharing them reuses it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ablate.checks.losses import check_loss
from ablate.contracts import INTERMEDIATES, DistillLoss, DistillShape, Intermediates
from ablate.errors import AblateError
from ablate.identity import identity
from ablate.models.build import encoder_shape
from ablate.registry import Registry
from ablate.slots import TEACHER, build_chosen, describe, lookup
from ablate.training.engine import LossFn, predict


def teacher_key(config: DictConfig, fingerprint: str, fold_indices: dict[str, list[int]]) -> str:
    """Everything that determines the trained teacher, hashed: its model, the training
    and data settings (less the operational keys, as for a study's identity), the data
    fingerprint and the fold's split."""
    settings = identity(
        {section: OmegaConf.to_container(config[section]) for section in ("train", "data")}
    )
    settings["train.epochs"] = config.distill.teacher_epochs
    payload = {
        "teacher": identity(config.distill.teacher),
        "settings": settings,
        "fingerprint": fingerprint,
        "split": fold_indices,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def load_teacher(model: nn.Module, cache_dir: Path, key: str) -> float | None:
    """Load cached weights into ``model`` and return the seconds its training took (NaN
    where a cache predates that record); None when there are no weights yet."""
    path = cache_dir / f"teacher-{key}.pt"
    if not path.is_file():
        return None
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    record = path.with_suffix(".json")
    if not record.is_file():
        return math.nan
    return float(json.loads(record.read_text())["compute_seconds"])


def save_teacher(model: nn.Module, cache_dir: Path, key: str, compute_seconds: float) -> Path:
    """Atomically write the teacher's weights and its training time (safe with concurrent
    workers): the time is written first, so weights never appear without it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"teacher-{key}.pt"
    record = json.dumps({"compute_seconds": compute_seconds}).encode()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for target, write in (
        (path.with_suffix(".json"), lambda handle: handle.write(record)),
        (path, lambda handle: torch.save(state, handle)),
    ):
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as handle:
            write(handle)
        os.replace(handle.name, target)
    return path


class TeacherTargets:
    """The teacher's pooled features and logits for a training batch, and the intermediates
    a loss asks for.

    Without batch augmentation the inputs never change, so the features and logits are
    computed once; otherwise the frozen teacher runs on each augmented batch. Intermediates
    (``wanted``) are computed on each batch, never cached: every training example's
    attention maps would not fit in memory.
    """

    def __init__(
        self,
        teacher: nn.Module,
        train_x: torch.Tensor,
        fixed: bool,
        batch_size: int,
        wanted: frozenset[str] = frozenset(),
    ):
        self.teacher = teacher.eval().requires_grad_(False)
        self.batch_size, self.wanted = batch_size, wanted
        self.cached = predict(teacher, train_x, batch_size) if fixed and not wanted else None

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cached is not None:
            logits, features = self.cached
            return features[index], logits[index]
        logits, features = predict(self.teacher, x, self.batch_size)
        return features, logits

    @torch.no_grad()
    def intermediates(self, x: torch.Tensor) -> Intermediates:
        """The teacher's feature, logits and ``wanted`` intermediates for the batch ``x``."""
        logits, feature, found = self.teacher(x, intermediates=self.wanted)
        return replace(found, feature=feature.float(), logits=logits.float())


def distill_shape(student: nn.Module, teacher: nn.Module, num_classes: int) -> DistillShape:
    """The build context of a distillation loss between two built models."""
    return DistillShape(
        student.feature_dim,
        teacher.feature_dim,
        num_classes,
        encoder_shape(student),
        encoder_shape(teacher),
    )


def _without_tokens(config: DictConfig, needs: Any, plugin: str, where: str = "") -> None:
    """A loss that needs tokens, layers or attention cannot take them from a CNN."""
    asked = sorted(set(needs) & INTERMEDIATES) if isinstance(needs, set | frozenset) else []
    if not asked:
        return
    for section, role in (("model", "student"), (TEACHER, "teacher")):
        if OmegaConf.select(config, f"{section}.preset") == "cnn":
            raise AblateError(
                f"{where}distill.loss: {plugin} needs the {role}'s {', '.join(asked)}, which "
                f"{section}.preset 'cnn' does not have (no tokens or attention); choose a ViT "
                f"{role} or a loss on features or logits"
            )


def check_distill_needs(config: DictConfig, registry: Registry, where: str = "") -> None:
    """Before any data is loaded: a loss whose factory declares ``needs`` tokens, layers or
    attention is one line with a CNN student or teacher. ``where`` prefixes the error."""
    if config.distill.enabled:
        component = lookup("distill.loss", config.distill.loss, registry)
        needs = getattr(component.factory, "needs", frozenset())
        _without_tokens(config, needs, describe(component), where)


def build_distill_loss(registry: Registry, config: DictConfig, shape: DistillShape) -> DistillLoss:
    """The ``distill.loss`` plugin, checked on a dry-run batch: it must return a scalar.

    A loss that needs intermediates gets random ones of the two models' sizes (``shape``);
    with a CNN student or teacher that is a one-line error, raised before it is built
    when its factory declares ``needs``.
    """
    check_distill_needs(config, registry)
    (loss,) = build_chosen("distill.loss", config.distill, shape, registry)
    plugin = describe(lookup("distill.loss", config.distill.loss, registry))
    _without_tokens(config, loss.needs, plugin)
    check_loss(loss, shape, f"distill.loss: {plugin}")
    return loss


def check_distill_token(config: DictConfig, registry: Registry, where: str = "") -> None:
    """A distillation token learns from a teacher: only the student may have one, and only
    with distillation on and a loss that gives the token a signal. ``where`` prefixes
    the error (a study file's name)."""
    if OmegaConf.select(config, f"{TEACHER}.distill_token"):
        raise AblateError(f"{where}{TEACHER}.distill_token: a teacher has no teacher to learn from")
    if not config.model.distill_token:
        return
    if not config.distill.enabled:
        raise AblateError(
            f"{where}model.distill_token: needs distill.enabled=true (it learns from a teacher)"
        )
    if not getattr(lookup("distill.loss", config.distill.loss, registry).factory, "active", True):
        raise AblateError(
            f"{where}model.distill_token: distill.loss {config.distill.loss!r} gives the token "
            "no signal; choose a loss that compares with the teacher"
        )


def _heads(logits: torch.Tensor, feature: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(class logits, distillation logits, distillation feature): a student with a
    distillation token returns both heads stacked in training; without one, its single
    head serves both."""
    if logits.ndim == 3:
        return logits[:, 0].float(), logits[:, 1].float(), feature[:, 1].float()
    return logits.float(), logits.float(), feature.float()


def _compared(
    loss: nn.Module,
    targets: TeacherTargets,
    x: torch.Tensor,
    index: torch.Tensor,
    heads: tuple[torch.Tensor, ...],
    found: Intermediates | None,
) -> torch.Tensor:
    """The distillation loss on the student's distillation head (and its intermediates,
    when the loss needs them: then the two-argument call) against the teacher's."""
    _, d_logits, d_feature = heads
    if found is None:
        t_feature, t_logits = targets(x, index)
        return loss(d_feature, t_feature, d_logits, t_logits)
    student = replace(found, feature=d_feature, logits=d_logits)
    return loss(student, targets.intermediates(x))


def matching_loss(loss: nn.Module, targets: TeacherTargets) -> LossFn:
    """Stage (b): the student (its distillation token, if it has one) imitates the
    teacher's pooled feature (or logits, or the intermediates the loss needs)."""

    def fn(x, index, logits, feature, soft_targets, found=None):
        return _compared(loss, targets, x, index, _heads(logits, feature), found)

    return fn


def finetune_loss(
    loss: nn.Module, targets: TeacherTargets, alpha: float, label_smoothing: float
) -> LossFn:
    """Stage (c): cross-entropy plus ``alpha`` times the distillation loss; with a
    distillation token the labels train the class head and the teacher the token's."""

    def fn(x, index, logits, feature, soft_targets, found=None):
        heads = _heads(logits, feature)
        ce = F.cross_entropy(heads[0], soft_targets, label_smoothing=label_smoothing)
        return ce + alpha * _compared(loss, targets, x, index, heads, found)

    return fn
