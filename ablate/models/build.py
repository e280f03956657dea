"""Model assembly from registered plugins, each part checked against its contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from torch import nn

from ablate.checks.parts import build_parts
from ablate.config import resolved
from ablate.models.cnn import WIDTHS, ReferenceCNN
from ablate.models.vit import SpectrogramViT
from ablate.registry import Registry


def build_model(
    model: DictConfig | Mapping[str, Any],
    n_mels: int,
    frames: int,
    num_classes: int,
    registry: Registry,
    section: str = "model",
) -> nn.Module:
    """Assemble the model of config ``section`` (``model`` or ``distill.teacher``, its
    preset resolved: :func:`ablate.config.resolve_model`) for ``n_mels`` x ``frames``
    inputs.

    Every part is built through its slot and run once on a small batch before the model
    is assembled, so a plugin that breaks its contract fails here, by name.
    """
    model = resolved(model, section)
    if model["preset"] == "cnn":
        return ReferenceCNN(num_classes)
    parts = build_parts(model, n_mels, frames, registry, section)
    return SpectrogramViT(
        parts["stem"],
        parts["pos_encoding"],
        parts["patching"],
        patch_dim=parts["patching"].patch_dim,
        num_classes=num_classes,
        dim=model["dim"],
        depth=model["depth"],
        heads=model["heads"],
        dim_head=model["dim_head"],
        mlp_dim=model["mlp_dim"],
        dropout=model["dropout"],
        emb_dropout=model["emb_dropout"],
        drop_path=model["drop_path"] or 0.0,
        patch_norm=model["patch_norm"],
        distill_token=model["distill_token"],
        image_size=(n_mels, frames),
    )


def feature_dim(model: Mapping[str, Any]) -> int:
    """The pooled feature size of a resolved model config: what distillation matches."""
    return WIDTHS[-1] if model["preset"] == "cnn" else model["dim"]


def token_count(model: nn.Module) -> int:
    """Tokens the encoder attends over (CLS and a distillation token included); 0 for a
    non-ViT."""
    patching = getattr(model, "patching", None)
    if patching is None:
        return 0
    return patching.num_patches + 1 + (getattr(model, "dist_token", None) is not None)
