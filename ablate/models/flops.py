"""Counted (not estimated) FLOPs and parameter counts."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(model: nn.Module, n_mels: int, frames: int) -> int:
    """FLOPs of one forward pass on one ``1 x n_mels x frames`` sample."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, n_mels, frames))
    model.train(was_training)
    return counter.get_total_flops()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
