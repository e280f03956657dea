"""A distillation loss run once on a small batch: it must return a scalar tensor."""

from __future__ import annotations

import torch

from ablate.contracts import DistillLoss, DistillShape
from ablate.errors import AblateError, first_line, origin


def check_loss(loss: DistillLoss, shape: DistillShape, plugin: str) -> None:
    """Call ``loss`` on random features and logits of ``shape``'s sizes; ``plugin`` names
    it (``distill.loss: distill_loss 'x' (pkg)``) in the one-line error."""
    inputs = torch.Generator().manual_seed(0)
    sizes = (shape.student_dim, shape.teacher_dim, shape.num_classes, shape.num_classes)
    batch = [torch.randn(2, size, generator=inputs) for size in sizes]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        try:
            value = loss(*batch)
        except Exception as exc:
            raise AblateError(
                f"{plugin} failed on features {shape.student_dim}/{shape.teacher_dim} and "
                f"{shape.num_classes} classes: {type(exc).__name__}: {first_line(exc)} "
                f"(at {origin(exc)})"
            ) from exc
    if not isinstance(value, torch.Tensor) or value.shape != ():
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise AblateError(f"{plugin} returned {got}; expected a scalar tensor")
