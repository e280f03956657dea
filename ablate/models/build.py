"""Model assembly from registered plugins, each part checked against its contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from torch import nn

from ablate.config import resolve_model
from ablate.contracts import EncoderShape
from ablate.models.checks import build_parts
from ablate.models.cnn import WIDTHS, ReferenceCNN
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


def feature_dim(model: Mapping[str, Any]) -> int:
    """The pooled feature size of a resolved model config: what distillation matches."""
    return WIDTHS[-1] if model["preset"] == "cnn" else model["dim"]


def encoder_shape(model: nn.Module) -> EncoderShape | None:
    """A built model's encoder sizes (what a distillation loss on tokens or attention
    reads); None for a model without tokens (the reference CNN)."""
    patching = getattr(model, "patching", None)
    if patching is None:
        return None
    patches = patching.num_patches
    prefix = 1 + (getattr(model, "dist_token", None) is not None)
    grid = getattr(patching, "grid", None)
    if not (isinstance(grid, tuple) and len(grid) == 2 and grid[0] * grid[1] == patches):
        grid = (1, patches)
    layers = model.transformer.layers
    heads = layers[0][0].heads
    return EncoderShape(model.feature_dim, len(layers), heads, prefix + patches, prefix, grid)


def token_count(model: nn.Module) -> int:
    """Tokens the encoder attends over (CLS and a distillation token included); 0 for a
    non-ViT."""
    shape = encoder_shape(model)
    return 0 if shape is None else shape.tokens
