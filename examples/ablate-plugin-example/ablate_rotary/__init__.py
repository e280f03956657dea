"""A rotary-style positional encoding and an overlapping patching for ablate, shipped as a
separate package.

Rotary position embedding (Su et al., RoFormer) rotates each pair of features of a token
by an angle proportional to the token's index. RoPE proper rotates the queries and keys
inside every attention layer; an ablate positional encoding sees the token sequence once,
before the encoder, so this variant rotates the token embeddings there. Rotations keep
each token's norm, and the CLS token (index 0) is left unrotated.

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
    """Rotates feature pairs ``(2i, 2i+1)`` of token ``m`` by ``m * base ** (-2i / dim)``."""

    def __init__(self, shape: ModelShape, base: float = 10000.0):
        super().__init__()
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
        pairs = shape.dim // 2
        position = torch.arange(shape.num_tokens, dtype=torch.float32)[:, None]
        inverse_freq = base ** (-torch.arange(pairs, dtype=torch.float32) * 2 / shape.dim)
        angle = position * inverse_freq  # (tokens, pairs)
        self.register_buffer("cos", angle.cos()[None], persistent=False)
        self.register_buffer("sin", angle.sin()[None], persistent=False)

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        pairs = self.cos.shape[-1]
        even, odd = t[..., 0 : 2 * pairs : 2], t[..., 1 : 2 * pairs : 2]
        cos, sin = self.cos.to(t.dtype), self.sin.to(t.dtype)
        rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
        return torch.cat([rotated.flatten(-2), t[..., 2 * pairs :]], dim=-1)


def overlapping(shape: ModelShape, width: int = 4, stride: int = 2) -> Patching:
    """All Mel bins x ``width`` frames every ``stride`` frames (zero-padded at the end)."""
    if not 1 <= stride <= width:
        raise ValueError(f"need 1 <= stride <= width, got stride {stride}, width {width}")
    return Patching(shape, shape.height, width, pad=True, stride=(shape.height, stride))


@hookimpl
def register_pos_encodings(register):
    register("rotary", Rotary, "Rotary-style: rotates each token's feature pairs by its index")


@hookimpl
def register_patchings(register):
    register("overlapping", overlapping, "All Mel bins x `width` frames every `stride` frames")
