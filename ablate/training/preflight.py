"""Every plugin a config uses, built and run once on a dry-run batch, before any training.

The model parts (and the teacher's) are checked against their contracts by
:func:`ablate.models.checks.build_parts`, the distillation loss must return a scalar, and
the augmentations are built; the first problem is a one-line :class:`AblateError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.config import NOT_VIT, resolve_model
from ablate.data.inputs import input_shape
from ablate.models.build import feature_dim
from ablate.models.checks import build_parts
from ablate.plugins import Registry, get_registry
from ablate.slots import TEACHER, build_chosen
from ablate.training.distill import build_distill_loss, check_distill_token


def _once(seen: set[str], what: Any, check: Callable[[], Any]) -> None:
    key = json.dumps(what, sort_keys=True, default=str)
    if key not in seen:
        check()
        seen.add(key)


def check_config(
    config: DictConfig,
    num_classes: int,
    registry: Registry | None = None,
    seen: set[str] | None = None,
) -> None:
    """Build and dry-run every plugin of ``config`` (presets resolved); ``seen`` skips
    what an earlier call already checked."""
    registry = registry or get_registry()
    seen = set() if seen is None else seen
    check_distill_token(config, registry)
    data = config.data
    height, width = input_shape(data)
    sections = ("model", TEACHER) if config.distill.enabled else ("model",)
    dims = {}
    for section in sections:
        model = resolve_model(OmegaConf.select(config, section), section)
        dims[section] = feature_dim(model, height, width)
        if model["preset"] not in NOT_VIT:
            _once(
                seen,
                ["parts", section, model, height, width],
                lambda model=model, section=section: build_parts(
                    model, height, width, registry, section
                ),
            )
    if config.distill.enabled:
        distill = OmegaConf.to_container(config.distill, resolve=True)
        _once(
            seen,
            ["loss", distill["loss"], distill["loss_args"], dims, num_classes],
            lambda: build_distill_loss(registry, config, dims["model"], dims[TEACHER], num_classes),
        )
    augment = OmegaConf.to_container(data, resolve=True)
    _once(
        seen,
        ["augment", augment["augment"], augment["augment_args"]],
        lambda: build_chosen("data.augment", data, None, registry),
    )
