"""Reading a model directory's files, each checked before use.

A model directory may come from a stranger, an interrupted copy or a hand edit. Every
file is read safely (YAML with ``safe_load`` and no aliases, weights with
``weights_only=True``) and checked against the others: the config must build a model the
weights fit, the label names must match its output size, the input normaliser must have
the config's shape and be finite with a positive std, the weights must be finite.
Anything else is a one-line :class:`AblateError` naming the file and what is wrong, never
a traceback and never a model that predicts NaN.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import DictConfig
from torch import nn

from ablate.config import load_yaml, make_config
from ablate.data.inputs import feature_type, input_shape
from ablate.errors import AblateError, first_line
from ablate.models.build import build_model
from ablate.ranges import check_ranges
from ablate.registry import Registry

RETRAIN = "retrain it with `ablate train CONFIG --out DIR`"


def _refuse_aliases(path: Path) -> None:
    """A YAML alias (``*a``) in ``config.yaml``: never written by ablate, and a stranger's
    few hundred bytes of nested aliases ("billion laughs") expand into billions of config
    nodes (10^6 took 6 minutes). Checked on the event stream: nothing is built."""
    try:
        for event in yaml.parse(path.read_text()):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1
                raise AblateError(
                    f"{path}: a YAML alias at line {line}; ablate never writes one, and "
                    f"nested aliases can expand without end; {RETRAIN}"
                )
    except yaml.YAMLError:
        pass  # load_yaml reports it, with its line and column


def read_config(path: Path) -> DictConfig:
    """``config.yaml``: a valid config without aliases whose values are in range."""
    _refuse_aliases(path)
    raw = load_yaml(path)  # one-line errors that name the file
    try:
        config = make_config(raw)
        check_ranges(config)
    except AblateError as exc:
        raise AblateError(f"{path}: {str(exc).removeprefix('config: ')}") from None
    return config


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; KeyError for a key given twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise KeyError(key)
        found[key] = value
    return found


def read_meta(path: Path) -> dict[str, Any]:
    """``meta.json``: a JSON object with ``label_names``, a list of distinct strings."""
    try:
        meta = json.loads(path.read_text(), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AblateError(f"{path}: invalid JSON ({first_line(exc)})") from None
    except KeyError as exc:
        raise AblateError(
            f"{path}: duplicate key {exc.args[0]!r} (JSON would silently keep only the last)"
        ) from None
    if not isinstance(meta, dict):
        raise AblateError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    labels = meta.get("label_names")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(name, str) and name for name in labels)
    ):
        raise AblateError(
            f"{path}: label_names must be a non-empty list of label names, got {labels!r:.80}"
        )
    if len(set(labels)) != len(labels):
        raise AblateError(f"{path}: label_names has duplicates: {labels!r:.80}")
    return meta


def read_weights(path: Path) -> dict[str, Any]:
    """``model.pt``: ``{"state_dict": {name: tensor}, "mean": tensor, "std": tensor}``,
    loaded without running any code from the file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = [line for line in str(exc).splitlines() if "GLOBAL" in line]
        if not found:
            raise AblateError(
                f"{path}: not a readable PyTorch weights file (damaged, truncated or another "
                f"format: {type(exc).__name__}); {RETRAIN}"
            ) from None
        raise AblateError(
            f"{path}: refused to load: it holds Python objects, not only tensors "
            f"({found[0].strip().rstrip('.')}); nothing in it was run"
        ) from None
    except Exception as exc:
        raise AblateError(
            f"{path}: not a readable PyTorch weights file (damaged, truncated or another "
            f"format: {type(exc).__name__}); {RETRAIN}"
        ) from None
    if not isinstance(payload, dict):
        raise AblateError(
            f"{path}: expected a mapping of state_dict, mean and std, got a "
            f"{type(payload).__name__}"
        )
    missing = [key for key in ("state_dict", "mean", "std") if key not in payload]
    if missing:
        raise AblateError(f"{path}: no {', '.join(missing)} in it; {RETRAIN}")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AblateError(f"{path}: state_dict must map parameter names to tensors")
    bad = [name for name, value in state.items() if not torch.isfinite(value).all()]
    if bad:
        raise AblateError(
            f"{path}: {len(bad)} weight tensors hold NaN or inf (first: {bad[0]}); {RETRAIN}"
        )
    return payload


def check_normaliser(path: Path, payload: dict[str, Any], data: DictConfig) -> None:
    """``mean`` and ``std`` of shape ``(height, 1)`` for the input the data config makes
    (``n_mels`` bins, or 88 eGeMAPS functionals), finite, std > 0."""
    height = input_shape(data)[0]
    egemaps = feature_type(data) == "egemaps"
    what = f"data.features egemaps ({height} functionals)" if egemaps else f"data.n_mels {height}"
    for key in ("mean", "std"):
        value = payload[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (height, 1):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise AblateError(
                f"{path}: {key} has shape {shape}, expected ({height}, 1) for {what} in config.yaml"
            )
        if not torch.isfinite(value).all():
            raise AblateError(f"{path}: {key} holds NaN or inf; {RETRAIN}")
    if not (payload["std"] > 0).all():
        raise AblateError(f"{path}: std has values <= 0 (inputs would be divided by zero)")


def fitted_model(
    directory: Path,
    config: DictConfig,
    labels: list[str],
    state: dict[str, torch.Tensor],
    registry: Registry,
) -> nn.Module:
    """The model config.yaml describes, with the weights loaded into it (they must fit)."""
    try:
        model = build_model(config.model, *input_shape(config.data), len(labels), registry)
    except AblateError as exc:
        raise AblateError(f"{directory / 'config.yaml'}: {exc}") from None
    except Exception as exc:
        raise AblateError(
            f"{directory / 'config.yaml'}: cannot build its model ({first_line(exc)})"
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise AblateError(
            f"{directory}: the weights in model.pt do not fit the model config.yaml and "
            f"meta.json describe ({_mismatch(str(exc))}); was a file changed? {RETRAIN}"
        ) from None
    return model


def _mismatch(message: str) -> str:
    """The first concrete problem of a load_state_dict error, on one line."""
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    first = lines[0] if lines else first_line(RuntimeError(message))
    first = re.sub(r"\s+", " ", first).rstrip(".")
    return first if len(first) <= 200 else first[:197] + "..."
