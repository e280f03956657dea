"""Model assembly from registered plugins, each part checked against its contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from torch import nn

from ablate.checks.parts import build_parts
from ablate.config import resolved
from ablate.contracts import EncoderShape
from ablate.models.cnn import WIDTHS, ReferenceCNN
from ablate.models.linear import LinearClassifier
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
    if model["preset"] == "linear":
        return LinearClassifier(n_mels * frames, num_classes, model["dropout"] or 0.0)
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


def feature_dim(model: Mapping[str, Any], n_mels: int, frames: int) -> int:
    """The pooled feature size of a resolved model config for ``n_mels`` x ``frames``
    inputs: what distillation matches (the linear model's is its flattened input)."""
    if model["preset"] == "linear":
        return n_mels * frames
    return WIDTHS[-1] if model["preset"] == "cnn" else model["dim"]


def _encoder(dim: int, depth: int, heads: int, prefix: int, patching: Any) -> EncoderShape:
    patches = patching.num_patches
    grid = getattr(patching, "grid", None)
    if not (isinstance(grid, tuple) and len(grid) == 2 and grid[0] * grid[1] == patches):
        grid = (1, patches)
    return EncoderShape(dim, depth, heads, prefix + patches, prefix, grid)


def encoder_of(model: Mapping[str, Any], patching: Any) -> EncoderShape:
    """The encoder sizes of a resolved ViT config whose ``patching`` was built (the
    preflight's view: no transformer is built for it)."""
    prefix = 1 + bool(model["distill_token"])
    return _encoder(model["dim"], model["depth"], model["heads"], prefix, patching)


def encoder_shape(model: nn.Module) -> EncoderShape | None:
    """A built model's encoder sizes (what a distillation loss on tokens or attention
    reads); None for a model without tokens (the reference CNN)."""
    patching = getattr(model, "patching", None)
    if patching is None:
        return None
    prefix = 1 + (getattr(model, "dist_token", None) is not None)
    layers = model.transformer.layers
    return _encoder(model.feature_dim, len(layers), layers[0][0].heads, prefix, patching)


def token_count(model: nn.Module) -> int:
    """Tokens the encoder attends over (CLS and a distillation token included); 0 for a
    non-ViT."""
    shape = encoder_shape(model)
    return 0 if shape is None else shape.tokens
