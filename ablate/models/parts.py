"""Build contexts and base classes the model plugins implement."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelShape:
    """What a model component needs to know to build itself.

    ``channels`` is the channel count entering the component; ``num_tokens`` counts the
    CLS token (0 before the patching is known).
    """

    height: int
    width: int
    channels: int
    dim: int
    num_tokens: int = 0


@dataclass(frozen=True)
class DistillShape:
    """Feature and class sizes of a student and its teacher."""

    student_dim: int
    teacher_dim: int
    num_classes: int


class Stem(nn.Module):
    """Image-to-image module run first; keeps height and width."""

    out_channels: int


class Patching(nn.Module):
    """Cuts ``(B, C, H, W)`` into ``(B, N, C * ph * pw)`` row-major tokens.

    A patch size that does not divide the input is an error unless ``pad`` is true, in
    which case the image is zero-padded at the bottom and right to whole patches.
    """

    def __init__(self, shape: ModelShape, patch_height: int, patch_width: int, pad: bool):
        super().__init__()
        h, w = shape.height, shape.width
        if patch_height < 1 or patch_width < 1:
            raise ValueError(f"patch size must be >= 1, got {patch_height}x{patch_width}")
        if not pad and (h % patch_height or w % patch_width):
            raise ValueError(
                f"patch {patch_height}x{patch_width} does not divide the {h}x{w} input; "
                "change the patch size or set pad=true"
            )
        self.ph, self.pw, self.pad = patch_height, patch_width, pad
        self.grid = (-(-h // patch_height), -(-w // patch_width))

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def patch_area(self) -> int:
        return self.ph * self.pw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        gh, gw = self.grid
        if self.pad and (gh * self.ph != h or gw * self.pw != w):
            x = nn.functional.pad(x, (0, gw * self.pw - w, 0, gh * self.ph - h))
        x = x.reshape(b, c, gh, self.ph, gw, self.pw).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, gh * gw, self.ph * self.pw * c)


class PositionalEncoding(nn.Module):
    """Positional information, on the image (extra channels) and/or on the tokens."""

    extra_channels: int = 0

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return t
