"""Rotary position embedding and an overlapping patching for ablate, shipped as a separate
package.

Rotary position embedding (Su et al., RoFormer) rotates each pair of features of the
queries and keys inside every attention layer by an angle proportional to the token's
position, so that attention scores depend on how far apart two tokens are. An ablate
positional encoding reaches attention through its ``rotate(q, k)`` method, which the
engine calls in every layer with ``(batch, heads, tokens, dim_head)`` queries and keys.
This one is 1-D: patch ``m`` (in the patching's row-major order) turns by
``m * base ** (-i / pairs)``; CLS and the distillation token are left as they are.
(ablate's built-in ``rope`` is the 2-D version, by row and column of the patch grid.)

The overlapping patching cuts vertical windows of ``width`` frames every ``stride``
frames, so neighbouring tokens share frames; the ``Patching`` base class counts the
tokens and sizes them from the stride.
"""

from __future__ import annotations

import torch

from ablate import hookimpl
from ablate.contracts import ModelShape, Patching, PositionalEncoding

__version__ = "0.1.0"


class Rotary(PositionalEncoding):
    """Turns query and key features ``(i, i + d/2)`` of patch ``m`` by ``m * base ** (-2i / d)``."""

    def __init__(self, shape: ModelShape, base: float = 10000.0):
        super().__init__()
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
        if shape.dim_head % 2:
            raise ValueError(f"dim_head must be even, got {shape.dim_head}")
        pairs = shape.dim_head // 2
        position = torch.arange(shape.attention_tokens) - shape.prefix_tokens + 1
        position = position.clamp(min=0).float()  # CLS (and a distillation token): 0
        angle = position[:, None] * base ** (-torch.arange(pairs) / pairs)  # (tokens, pairs)
        self.register_buffer("cos", angle.cos().repeat(1, 2), persistent=False)
        self.register_buffer("sin", angle.sin().repeat(1, 2), persistent=False)

    def rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin = self.cos.to(q.dtype), self.sin.to(q.dtype)

        def turned(x: torch.Tensor) -> torch.Tensor:
            first, second = x.chunk(2, dim=-1)
            return x * cos + torch.cat([-second, first], dim=-1) * sin

        return turned(q), turned(k)


def overlapping(shape: ModelShape, width: int = 4, stride: int = 2) -> Patching:
    """All Mel bins x ``width`` frames every ``stride`` frames (zero-padded at the end)."""
    if not 1 <= stride <= width:
        raise ValueError(f"need 1 <= stride <= width, got stride {stride}, width {width}")
    return Patching(shape, shape.height, width, pad=True, stride=(shape.height, stride))


@hookimpl
def register_pos_encodings(register):
    register("rotary", Rotary, "Rotary embedding: turns queries and keys by the patch index")


@hookimpl
def register_patchings(register):
    register("overlapping", overlapping, "All Mel bins x `width` frames every `stride` frames")
