"""Model assembly from registered plugins, each part checked against its contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from torch import nn

from ablate.config import resolve_model
from ablate.models.checks import build_parts
from ablate.models.cnn import WIDTHS, ReferenceCNN
from ablate.models.linear import LinearClassifier
from ablate.models.vit import SpectrogramViT
from ablate.plugins import Registry, get_registry


def build_model(
    model: DictConfig | Mapping[str, Any],
    n_mels: int,
    frames: int,
    num_classes: int,
    registry: Registry | None = None,
    section: str = "model",
) -> nn.Module:
    """Assemble the model of config ``section`` (``model`` or ``distill.teacher``) for
    ``n_mels`` x ``frames`` inputs. A mapping may leave fields to its preset.

    Every part is built through its slot and run once on a small batch before the model
    is assembled, so a plugin that breaks its contract fails here, by name.
    """
    resolved = resolve_model(model, section)
    if resolved["preset"] == "cnn":
        return ReferenceCNN(num_classes)
    if resolved["preset"] == "linear":
        return LinearClassifier(n_mels * frames, num_classes, resolved["dropout"] or 0.0)
    parts = build_parts(resolved, n_mels, frames, registry or get_registry(), section)
    return SpectrogramViT(
        parts.stem,
        parts.pos,
        parts.patching,
        patch_dim=parts.patching.patch_dim,
        num_classes=num_classes,
        dim=resolved["dim"],
        depth=resolved["depth"],
        heads=resolved["heads"],
        dim_head=resolved["dim_head"],
        mlp_dim=resolved["mlp_dim"],
        dropout=resolved["dropout"],
        emb_dropout=resolved["emb_dropout"],
        drop_path=resolved["drop_path"] or 0.0,
        patch_norm=resolved["patch_norm"],
        distill_token=resolved["distill_token"],
    )


def feature_dim(model: Mapping[str, Any], n_mels: int, frames: int) -> int:
    """The pooled feature size of a resolved model config for ``n_mels`` x ``frames``
    inputs: what distillation matches (the linear model's is its flattened input)."""
    if model["preset"] == "linear":
        return n_mels * frames
    return WIDTHS[-1] if model["preset"] == "cnn" else model["dim"]


def token_count(model: nn.Module) -> int:
    """Tokens the encoder attends over (CLS and a distillation token included); 0 for a
    non-ViT."""
    patching = getattr(model, "patching", None)
    if patching is None:
        return 0
    return patching.num_patches + 1 + (getattr(model, "dist_token", None) is not None)
