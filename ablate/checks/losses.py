"""A distillation loss run once on a small batch: it must return a scalar tensor.

A loss that needs intermediates (``DistillLoss.needs``) gets random ones of the two
models' sizes (``DistillShape.student`` / ``.teacher``; attention rows sum to 1) in the
two-argument call; any other loss gets features and logits in the four-argument call."""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch

from ablate.contracts import INTERMEDIATES, DistillLoss, DistillShape, EncoderShape, Intermediates
from ablate.errors import AblateError, first_line, origin


def wanted(loss: DistillLoss) -> frozenset[str]:
    """The intermediates ``loss`` needs: empty for the four-argument call."""
    return frozenset(loss.needs) & INTERMEDIATES


def _dry_side(
    dim: int,
    encoder: EncoderShape | None,
    classes: int,
    needs: Collection[str],
    draw: Callable[..., torch.Tensor],
) -> Intermediates:
    """Random stand-ins for what one model hands a loss."""
    side = Intermediates(draw(2, dim), draw(2, classes))
    if encoder is None:
        return side
    n, width = encoder.tokens, encoder.dim
    if "tokens" in needs:
        side.tokens = draw(2, n, width)
    if "layers" in needs:
        side.layers = [draw(2, n, width) for _ in range(encoder.depth)]
    if "attention" in needs:
        side.attention = [draw(2, encoder.heads, n, n).softmax(-1) for _ in range(encoder.depth)]
    return side


def check_loss(loss: DistillLoss, shape: DistillShape, plugin: str) -> None:
    """Call ``loss`` on random inputs of ``shape``'s sizes; ``plugin`` names it
    (``distill.loss: distill_loss 'x' (pkg)``) in the one-line error."""
    generator = torch.Generator().manual_seed(0)

    def draw(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=generator)

    needs = wanted(loss)
    if needs:
        student = _dry_side(shape.student_dim, shape.student, shape.num_classes, needs, draw)
        teacher = _dry_side(shape.teacher_dim, shape.teacher, shape.num_classes, needs, draw)
        batch = (student, teacher)
    else:
        sizes = (shape.student_dim, shape.teacher_dim, shape.num_classes, shape.num_classes)
        batch = tuple(draw(2, size) for size in sizes)
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
