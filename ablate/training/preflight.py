"""Every plugin a config uses, built and run once on a dry-run batch, before any training.

The model parts (the student's and the teacher's) are checked against their contracts by
:func:`ablate.checks.parts.build_parts`, the distillation loss must return a scalar on
stand-ins of the two models' sizes, and each augmentation runs once on a small batch of
the model's input shape; the first problem is a one-line :class:`AblateError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.checks.augments import check_augments
from ablate.checks.parts import build_parts
from ablate.config import NOT_VIT, resolved
from ablate.contracts import DistillShape, EncoderShape
from ablate.data.inputs import input_shape
from ablate.models.build import encoder_of, feature_dim
from ablate.registry import Registry
from ablate.slots import TEACHER
from ablate.training.distill import build_distill_loss, check_distill_token


def _once(seen: dict[str, Any], what: Any, check: Callable[[], Any]) -> Any:
    """``check()``, or what it returned when an earlier call with ``what`` ran it."""
    key = json.dumps(what, sort_keys=True, default=str)
    if key not in seen:
        seen[key] = check()
    return seen[key]


def _encoder(
    model: dict[str, Any], section: str, height: int, width: int, registry: Registry
) -> EncoderShape:
    """The model's parts built and dry-run; the encoder sizes they make."""
    parts = build_parts(model, height, width, registry, section)
    return encoder_of(model, parts["patching"])


def check_config(
    config: DictConfig,
    num_classes: int,
    registry: Registry,
    seen: dict[str, Any] | None = None,
) -> None:
    """Build and dry-run every plugin of ``config`` (presets resolved); ``seen`` skips
    what an earlier call already checked."""
    seen = {} if seen is None else seen
    check_distill_token(config, registry)
    data = config.data
    height, width = input_shape(data)
    sections = ("model", TEACHER) if config.distill.enabled else ("model",)
    dims, encoders = {}, {}
    for section in sections:
        model = resolved(OmegaConf.select(config, section), section)
        dims[section], encoders[section] = feature_dim(model, height, width), None
        if model["preset"] not in NOT_VIT:
            encoders[section] = _once(
                seen,
                ["parts", section, model, height, width],
                lambda model=model, section=section: _encoder(
                    model, section, height, width, registry
                ),
            )
    if config.distill.enabled:
        distill = OmegaConf.to_container(config.distill, resolve=True)
        shape = DistillShape(
            dims["model"], dims[TEACHER], num_classes, encoders["model"], encoders[TEACHER]
        )
        _once(
            seen,
            ["loss", distill["loss"], distill["loss_args"], shape],
            lambda: build_distill_loss(registry, config, shape),
        )
    augment = OmegaConf.to_container(data, resolve=True)
    _once(
        seen,
        ["augment", augment["augment"], augment["augment_args"], height, width],
        lambda: check_augments(data, (height, width), num_classes, registry),
    )
