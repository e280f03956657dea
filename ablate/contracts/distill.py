"""The distillation loss's contract: what it is told (:class:`DistillShape`) and what it
may ask of both models (:class:`Intermediates`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ablate.contracts.base import Contract
from ablate.contracts.model import EncoderShape


@dataclass(frozen=True)
class DistillShape:
    """Feature and class sizes of a student and its teacher, and their encoders' sizes:
    ``None`` for a model without tokens (the reference CNN)."""

    student_dim: int
    teacher_dim: int
    num_classes: int
    student: EncoderShape | None = None
    teacher: EncoderShape | None = None


#: What a distillation loss may ask for (``DistillLoss.needs``): the pooled feature and the
#: logits (the four-argument call), and the intermediates, computed only when asked for.
OUTPUTS = frozenset({"feature", "logits"})
INTERMEDIATES = frozenset({"tokens", "layers", "attention"})


@dataclass
class Intermediates:
    """What one model computed for a batch, handed to a distillation loss that asks for
    more than the pooled feature and the logits (the fields it did not ask for are None).

    ``feature`` ``(B, dim)`` and ``logits`` ``(B, classes)``: for a student with a
    distillation token, its distillation head's. ``tokens`` ``(B, N, dim)``: the encoder's
    output (after its final LayerNorm), every token in :class:`EncoderShape` order.
    ``layers``: each block's output ``(B, N, dim)``, first block first, before the final
    LayerNorm (the last one normalised is ``tokens``). ``attention``: each block's attention
    probabilities ``(B, heads, N, N)`` (query rows, key columns; rows sum to 1; before the
    attention dropout).
    """

    feature: torch.Tensor
    logits: torch.Tensor
    tokens: torch.Tensor | None = None
    layers: list[torch.Tensor] | None = None
    attention: list[torch.Tensor] | None = None


class DistillLoss(nn.Module, Contract):
    """``loss(student_feature, teacher_feature, student_logits, teacher_logits)`` -> scalar.

    ``needs`` says what the loss compares: a subset of :data:`OUTPUTS` (the default, and
    the four-argument call above) and :data:`INTERMEDIATES`. A loss that needs any
    intermediate is called ``loss(student, teacher)`` with two :class:`Intermediates`
    holding what it asked for (and always ``feature`` and ``logits``); the models compute
    them only then. ``note`` says, for the run log, anything the loss does beyond its
    name (e.g. a learned projection); ``active = False`` (the ``none`` loss) makes the
    engine skip the feature-matching stage and fine-tune with cross-entropy alone.
    """

    context: ClassVar[str] = "DistillShape"
    reads: ClassVar[dict[str, Any]] = {"note": None, "active": True, "needs": OUTPUTS}
    module = True
    note: str | None = None
    active: bool = True
    needs: ClassVar[frozenset[str]] = OUTPUTS

    @classmethod
    def problem(cls, obj: Any) -> str | None:
        found = super().problem(obj)
        known = OUTPUTS | INTERMEDIATES
        needs = getattr(obj, "needs", None)
        if found is None and not (isinstance(needs, (set, frozenset)) and needs <= known):
            found = f"declares needs = {needs!r}; expected a set of {', '.join(sorted(known))}"
        return found
