"""The model parts' contracts: stems, patchings and positional encodings, and the shapes
they are told (:class:`ModelShape`, :class:`EncoderShape`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ablate.contracts.base import REQUIRED, Contract


@dataclass(frozen=True)
class ModelShape:
    """The true shape a model component receives.

    ``channels`` enter the component: 1 for the stem, the stem's ``out_channels`` for the
    positional encoding, and those plus the encoding's ``extra_channels`` for the patching.
    Set for the positional encoding only (0 and None before): ``num_tokens`` (CLS
    included: what ``tokens`` sees), ``grid`` (patch rows x columns, when the patching
    declares one), the encoder's ``heads`` and ``dim_head``, and ``prefix_tokens``: the
    tokens before the patches in attention, 1 (CLS) or 2 (CLS, then the distillation token).
    """

    height: int
    width: int
    channels: int
    dim: int
    num_tokens: int = 0
    grid: tuple[int, int] | None = None
    heads: int = 0
    dim_head: int = 0
    prefix_tokens: int = 0

    @property
    def attention_tokens(self) -> int:
        """Tokens each attention layer sees: the prefix tokens, then the patches."""
        return self.prefix_tokens + self.num_tokens - 1 if self.num_tokens else 0


@dataclass(frozen=True)
class EncoderShape:
    """A transformer's sizes, for a distillation loss that reads its tokens or attention.

    ``tokens`` counts every token attended over: ``prefix`` of them first (1: CLS; 2: CLS,
    then the distillation token), then the patches in the patching's row-major ``grid``
    (rows x columns; ``(1, patches)`` for a patching without a grid).
    """

    dim: int
    depth: int
    heads: int
    tokens: int
    prefix: int
    grid: tuple[int, int]

    @property
    def patches(self) -> int:
        return self.tokens - self.prefix


class Stem(nn.Module, Contract):
    """Image to image, run first: ``(B, C, H, W) -> (B, out_channels, H, W)``."""

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"out_channels": REQUIRED}
    counts: ClassVar[dict[str, int]] = {"out_channels": 1}
    module = True
    out_channels: int


def _windows(size: int, window: int, stride: int, pad: bool) -> int | None:
    """How many windows cover ``size``; None when they cannot without padding."""
    if pad:
        return -(-max(size - window, 0) // stride) + 1
    if size < window or (size - window) % stride:
        return None
    return (size - window) // stride + 1


class Patching(nn.Module, Contract):
    """Cuts ``(B, C, H, W)`` into ``(B, num_patches, patch_dim)`` row-major tokens.

    The engine reads ``num_patches`` (tokens, CLS excluded) and ``patch_dim`` (features per
    token); ``grid`` (rows, columns) is passed on to the positional encoding. This base
    class computes all three from the window size and ``stride`` (rows, columns, or one
    int for both; the window size by default: no overlap; smaller: overlapping windows).
    Windows that do not tile the input are an error unless ``pad`` is true; then the image
    is zero-padded at the bottom and right. Each token holds its window's pixels as
    ``(ph, pw, C)`` flattened.
    """

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"num_patches": REQUIRED, "patch_dim": REQUIRED}
    counts: ClassVar[dict[str, int]] = {"num_patches": 1, "patch_dim": 1}
    module = True

    def __init__(
        self,
        shape: ModelShape,
        patch_height: int,
        patch_width: int,
        pad: bool = False,
        stride: int | tuple[int, int] | None = None,
    ):
        super().__init__()
        h, w = shape.height, shape.width
        if isinstance(stride, int):
            stride = (stride, stride)
        sh, sw = stride or (patch_height, patch_width)
        if min(patch_height, patch_width) < 1:
            raise ValueError(f"patch size must be >= 1, got {patch_height}x{patch_width}")
        if min(sh, sw) < 1:
            raise ValueError(f"stride must be >= 1, got {sh}x{sw}")
        rows, cols = _windows(h, patch_height, sh, pad), _windows(w, patch_width, sw, pad)
        if rows is None or cols is None:
            if (sh, sw) == (patch_height, patch_width):
                problem = f"patch {patch_height}x{patch_width} does not divide the {h}x{w} input"
            else:
                problem = (
                    f"windows {patch_height}x{patch_width} at stride {sh}x{sw} do not tile "
                    f"the {h}x{w} input"
                )
            raise ValueError(f"{problem}; change the patch size or set pad=true")
        self.ph, self.pw, self.stride, self.pad = patch_height, patch_width, (sh, sw), pad
        self.grid = (rows, cols)
        self.patch_dim = shape.channels * patch_height * patch_width

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def patch_area(self) -> int:
        return self.ph * self.pw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        (rows, cols), (sh, sw) = self.grid, self.stride
        height, width = (rows - 1) * sh + self.ph, (cols - 1) * sw + self.pw
        if (height, width) != (h, w):
            x = nn.functional.pad(x, (0, width - w, 0, height - h))
        if (sh, sw) == (self.ph, self.pw):  # no overlap: a reshape (unfold's backward is slower)
            x = x.reshape(b, c, rows, self.ph, cols, self.pw).permute(0, 2, 4, 3, 5, 1)
        else:
            x = x.unfold(2, self.ph, sh).unfold(3, self.pw, sw).permute(0, 2, 3, 4, 5, 1)
        return x.reshape(b, rows * cols, self.ph * self.pw * c)


class PositionalEncoding(nn.Module, Contract):
    """Positional information, on the image, on the tokens and/or inside attention.

    ``image(x)`` runs after the stem and may add ``extra_channels`` channels; ``tokens(t)``
    runs on ``(B, num_tokens, dim)`` with the CLS token first and keeps that shape.

    Inside every attention layer (each one, training and evaluation, on every attention
    path), two optional methods, ``None`` when the encoding has none (then attention runs
    exactly as without them). The ``N`` tokens there are ``ModelShape.attention_tokens``:
    CLS, the distillation token when the model has one, then the patches in the
    patching's row-major ``grid`` order.

    - ``rotate(q, k) -> (q, k)``: queries and keys ``(B, heads, N, dim_head)``, before
      the scores, returned in the same shape (rotary embeddings);
    - ``attention_bias(n_tokens) -> (heads or 1, N, N)`` or None: added to the scaled
      scores ``q k^T / sqrt(dim_head)`` before the softmax (rows: queries; ALiBi).
    """

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"extra_channels": 0, "rotate": None, "attention_bias": None}
    counts: ClassVar[dict[str, int]] = {"extra_channels": 0}
    module = True
    extra_channels: int = 0
    rotate: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    attention_bias: Callable[[int], torch.Tensor | None] | None = None

    @classmethod
    def problem(cls, obj: Any) -> str | None:
        found = super().problem(obj)
        for name in ("rotate", "attention_bias"):
            if found is None and not (getattr(obj, name) is None or callable(getattr(obj, name))):
                found = f"declares {name} = {getattr(obj, name)!r}; expected a method or None"
        return found

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return t
