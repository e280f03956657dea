"""Augmentations run once on a small batch: each keeps the shape the model was built for."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from ablate.errors import AblateError, first_line, origin
from ablate.registry import Registry
from ablate.slots import SLOTS, build_chosen, describe, lookup


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"


def _run(
    augment: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    wave: torch.Tensor,
    rate: int,
    generator: torch.Generator,
) -> tuple[bool, str, str]:
    """Call ``augment`` as its stage is called: (whether its output keeps the expected
    shape, what it returned, what was expected)."""
    if augment.stage == "wave":
        out = augment(wave, rate, generator)
        ok = isinstance(out, torch.Tensor) and out.ndim == 1 and out.numel() > 0
        return ok, _shape(out), "a 1-D wave"
    if augment.stage == "feature":
        out = augment(x, generator)
        return isinstance(out, torch.Tensor) and out.shape == x.shape, _shape(out), _shape(x)
    out = augment(x, y, generator)
    pair = isinstance(out, tuple) and len(out) == 2
    pair = pair and all(isinstance(t, torch.Tensor) for t in out)
    got = f"({', '.join(_shape(t) for t in out)})" if pair else _shape(out)
    ok = pair and (out[0].shape, out[1].shape) == (x.shape, y.shape)
    return ok, got, f"({_shape(x)}, {_shape(y)})"


def check_augments(
    data: DictConfig, shape: tuple[int, int], num_classes: int, registry: Registry
) -> None:
    """Each augmentation of ``data.augment`` run once on a small batch, before training:
    a wave augment returns a 1-D waveform; a feature augment keeps the ``(B, 1, *shape)``
    shape the model was built for (``n_mels`` x ``frames``); a batch augment keeps the
    batch's and its one-hot targets' shapes. The first that does not is one line."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, *shape, generator=generator)
    y = torch.eye(num_classes)[torch.arange(2) % num_classes]
    rate = int(data.sample_rate)
    wave = torch.randn(rate, generator=generator)
    chosen = SLOTS["data.augment"].read(data)
    built = build_chosen("data.augment", data, None, registry)
    for (name, _), augment in zip(chosen, built, strict=True):
        plugin = f"data.augment: {describe(lookup('data.augment', name, registry))}"
        try:
            with torch.random.fork_rng(devices=[]):
                ok, got, expected = _run(augment, x, y, wave, rate, generator)
        except Exception as exc:
            raise AblateError(
                f"{plugin} failed on a small batch: {type(exc).__name__}: {first_line(exc)} "
                f"(at {origin(exc)})"
            ) from exc
        if not ok:
            raise AblateError(
                f"{plugin} ({augment.stage} stage) returned {got}; expected {expected} "
                "(the shape the model was built for)"
            )
