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
    wave = torch.randn(int(data.sample_rate), generator=generator)
    chosen = SLOTS["data.augment"].read(data)
    built = build_chosen("data.augment", data, None, registry)
    for (name, _), augment in zip(chosen, built, strict=True):
        plugin = f"data.augment: {describe(lookup('data.augment', name, registry))}"
        try:
            with torch.random.fork_rng(devices=[]):
                if augment.stage == "wave":
                    out, expected = augment(wave, int(data.sample_rate), generator), "a 1-D wave"
                    ok = isinstance(out, torch.Tensor) and out.ndim == 1 and out.numel() > 0
                elif augment.stage == "feature":
                    out, expected = augment(x, generator), _shape(x)
                    ok = isinstance(out, torch.Tensor) and out.shape == x.shape
                else:
                    out, expected = augment(x, y, generator), f"({_shape(x)}, {_shape(y)})"
                    ok = (
                        isinstance(out, tuple)
                        and len(out) == 2
                        and all(isinstance(t, torch.Tensor) for t in out)
                        and (out[0].shape, out[1].shape) == (x.shape, y.shape)
                    )
                    out = (
                        f"({', '.join(_shape(t) for t in out)})" if isinstance(out, tuple) else out
                    )
        except Exception as exc:
            raise AblateError(
                f"{plugin} failed on a small batch: {type(exc).__name__}: {first_line(exc)} "
                f"(at {origin(exc)})"
            ) from exc
        if not ok:
            got = out if isinstance(out, str) else _shape(out)
            raise AblateError(
                f"{plugin} ({augment.stage} stage) returned {got}; expected {expected} "
                "(the shape the model was built for)"
            )
