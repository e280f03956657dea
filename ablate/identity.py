"""What a config computes: its flattened keys less the operational ones (a study's and a
cached teacher's identity)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

#: keys that change how a config runs, not what it computes: left out of a study's
#: identity and of a cached teacher's key
OPERATIONAL_KEYS = (
    "data.workers",
    "data.cache",
    "data.cache_dir",
    "train.device",
    "train.threads",
    "train.compile",
)


def flatten(config: DictConfig | dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'model.patching': 'vertical', ...}``: every leaf under its dotted key."""
    tree = config
    if isinstance(config, DictConfig):
        tree = OmegaConf.to_container(config, resolve=True)
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def identity(config: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The flattened config without its :data:`OPERATIONAL_KEYS`: what it computes. Unset
    (null) keys are left out, as they are the preset's or the code's choice: a new field
    that defaults to null changes no study's identity, so studies resume across versions."""
    return {k: v for k, v in flatten(config).items() if k not in OPERATIONAL_KEYS and v is not None}
