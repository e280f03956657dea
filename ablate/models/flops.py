"""Counted (not estimated) FLOPs and parameter counts."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

_aten = torch.ops.aten


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


#: Attention kernels ``torch.utils.flop_counter`` does not know: without these, SDPA on the
#: CPU (``_scaled_dot_product_flash_attention_for_cpu``) would count as zero FLOPs.
_EXTRA_FORMULAS = {
    op: _sdpa_flops
    for name in ("_scaled_dot_product_flash_attention_for_cpu",)
    if (op := getattr(_aten, name, None)) is not None
}


def forward_flops(model: nn.Module, n_mels: int, frames: int) -> int:
    """FLOPs of one forward pass on one ``1 x n_mels x frames`` sample (eval mode)."""
    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 1, n_mels, frames, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def parameter_count(model: nn.Module, trainable: bool = True) -> int:
    """Trainable parameters; all of them with ``trainable=False`` (a frozen teacher's)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
