"""Every plugin a config uses, built and run once on a dry-run batch, before any training.

The models (the student and the teacher) are built, which checks their parts against
their contracts (:func:`ablate.models.checks.build_parts`), the distillation loss must
return a scalar on stand-ins of the two models' sizes, and the augmentations are built;
the first problem is a one-line :class:`AblateError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ablate.config import resolve_model
from ablate.contracts import DistillShape, EncoderShape
from ablate.models.build import build_model, encoder_shape, feature_dim
from ablate.plugins import Registry, get_registry
from ablate.slots import TEACHER, build_chosen
from ablate.training.distill import build_distill_loss, check_distill_token


def _once(seen: dict[str, Any], what: Any, check: Callable[[], Any]) -> Any:
    """``check()``, or what it returned when an earlier call with ``what`` ran it."""
    key = json.dumps(what, sort_keys=True, default=str)
    if key not in seen:
        seen[key] = check()
    return seen[key]


def _encoder(
    model: dict[str, Any], section: str, data: DictConfig, num_classes: int, registry: Registry
) -> EncoderShape:
    """The model built (its parts dry-run), without moving the random streams: its sizes."""
    with torch.random.fork_rng(devices=[]):
        built = build_model(model, data.n_mels, data.frames, num_classes, registry, section)
    return encoder_shape(built)


def check_config(
    config: DictConfig,
    num_classes: int,
    registry: Registry | None = None,
    seen: dict[str, Any] | None = None,
) -> None:
    """Build and dry-run every plugin of ``config`` (presets resolved); ``seen`` skips
    what an earlier call already checked."""
    registry = registry or get_registry()
    seen = {} if seen is None else seen
    check_distill_token(config, registry)
    data = config.data
    sections = ("model", TEACHER) if config.distill.enabled else ("model",)
    dims, encoders = {}, {}
    for section in sections:
        model = resolve_model(OmegaConf.select(config, section), section)
        dims[section], encoders[section] = feature_dim(model), None
        if model["preset"] != "cnn":
            encoders[section] = _once(
                seen,
                ["parts", section, model, data.n_mels, data.frames],
                lambda model=model, section=section: _encoder(
                    model, section, data, num_classes, registry
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
        ["augment", augment["augment"], augment["augment_args"]],
        lambda: build_chosen("data.augment", data, None, registry),
    )
