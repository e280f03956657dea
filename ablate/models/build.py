"""Presets and model assembly from registered plugins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from ablate.config import ModelConfig
from ablate.errors import AblateError
from ablate.models.cnn import ReferenceCNN
from ablate.models.parts import ModelShape
from ablate.models.vit import SpectrogramViT
from ablate.plugins import Registry, get_registry

_VIT = dict(dim=256, heads=5, dim_head=64, mlp_dim=512, dropout=0.1, emb_dropout=0.1)

#: The paper's teacher and student (Kim & Lee 2024) and the reference CNN.
PRESETS: dict[str, dict[str, Any]] = {
    "teacher": dict(_VIT, patching="vertical", pos_encoding="coordinate", stem="conv", depth=6),
    "student": dict(_VIT, patching="vertical", pos_encoding="none", stem="none", depth=3),
    "cnn": {},
}
_PLUGIN_KEYS = ("patching", "pos_encoding", "stem")
#: The model fields this module reads (``ablate.config.ModelConfig`` may add more).
MODEL_KEYS = (
    "preset",
    "patching",
    "patching_args",
    "pos_encoding",
    "pos_encoding_args",
    "stem",
    "stem_args",
    "dim",
    "depth",
    "heads",
    "dim_head",
    "mlp_dim",
    "dropout",
    "emb_dropout",
)


def resolve(model: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The model config with every unset (missing or null) field filled from its preset.

    A plain mapping may leave fields out; a key that is not a model field is an error.
    """
    if isinstance(model, DictConfig):
        spec = OmegaConf.to_container(model, resolve=True)
    else:
        spec = dict(model)
    known = (*MODEL_KEYS, *(f.name for f in fields(ModelConfig) if f.name not in MODEL_KEYS))
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise AblateError(f"model.{unknown[0]}: not a model field; known: {', '.join(known)}")
    preset = spec.get("preset")
    if preset not in PRESETS:
        raise AblateError(f"model.preset: unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    if preset == "cnn":
        for key in _PLUGIN_KEYS:
            if spec.get(key) is not None:
                raise AblateError(f"model.{key}: the cnn preset takes no {key} (it is not a ViT)")
    resolved = dict.fromkeys(known)
    resolved.update({f"{key}_args": {} for key in _PLUGIN_KEYS})
    resolved.update(PRESETS[preset])
    resolved.update({k: v for k, v in spec.items() if v is not None})
    return resolved


def _part(registry: Registry, spec: dict[str, Any], kind: str, shape: ModelShape):
    component = registry.get(kind, spec[kind])
    where = f"model.{kind}_args"
    try:
        return component.build(shape, spec.get(f"{kind}_args") or {}, where)
    except (ValueError, TypeError) as exc:
        raise AblateError(f"{where}: {kind} '{component.name}': {exc}") from None


def build_model(
    model: DictConfig | dict[str, Any],
    n_mels: int,
    frames: int,
    num_classes: int,
    registry: Registry | None = None,
) -> nn.Module:
    """Assemble the model for ``n_mels`` x ``frames`` inputs from its config."""
    registry = get_registry() if registry is None else registry
    spec = resolve(model)
    if spec["preset"] == "cnn":
        return ReferenceCNN(num_classes)
    dim = spec["dim"]
    stem = _part(registry, spec, "stem", ModelShape(n_mels, frames, 1, dim))
    patching = _part(registry, spec, "patching", ModelShape(n_mels, frames, stem.out_channels, dim))
    tokens = patching.num_patches + 1
    pos = _part(
        registry, spec, "pos_encoding", ModelShape(n_mels, frames, stem.out_channels, dim, tokens)
    )
    channels = stem.out_channels + pos.extra_channels
    return SpectrogramViT(
        stem,
        pos,
        patching,
        patch_dim=channels * patching.patch_area,
        num_classes=num_classes,
        dim=dim,
        depth=spec["depth"],
        heads=spec["heads"],
        dim_head=spec["dim_head"],
        mlp_dim=spec["mlp_dim"],
        dropout=spec["dropout"],
        emb_dropout=spec["emb_dropout"],
    )


def token_count(model: nn.Module) -> int:
    """Tokens the encoder attends over (CLS included); 0 for a non-ViT."""
    patching = getattr(model, "patching", None)
    return patching.num_patches + 1 if patching is not None else 0
