"""Stems: identity, the paper's six-block conv stem, and a residual variant of it."""

import itertools

import torch
from torch import nn

from ablate import hookimpl
from ablate.contracts import ModelShape, Stem


class Identity(Stem):
    """The raw image goes straight to patching (the patch embedding is the linear stem)."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.out_channels = shape.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ConvStem(Stem):
    """``[Conv3x3 s1 p1, InstanceNorm2d, GELU]`` blocks, channels 1-16-32-64-32-16-1.

    ``width`` scales the hidden channels (1.0 is the paper's); ``blocks`` is the number of
    conv blocks (6 in the paper), hidden channels rising then falling symmetrically.
    """

    def __init__(self, shape: ModelShape, width: float = 1.0, blocks: int = 6):
        super().__init__()
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        channels = [shape.channels, *_hidden_widths(width, blocks - 1), shape.channels]
        layers = []
        for c_in, c_out in itertools.pairwise(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.InstanceNorm2d(c_out), nn.GELU()]
        self.net = nn.Sequential(*layers)
        self.out_channels = shape.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _hidden_widths(width: float, count: int) -> list[int]:
    """``count`` hidden widths doubling from 16 and falling back: 16-32-64-32-16 for 5."""
    peak = (count + 1) // 2
    up = [max(1, round(16 * 2**i * width)) for i in range(peak)]
    return up + up[: count - peak][::-1]


class ResidualConvStem(ConvStem):
    """The conv stem with a skip connection: learns a correction to the raw image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


@hookimpl
def register_stems(register):
    register("none", Identity, "No stem: raw log-Mel image into the patch embedding")
    register("conv", ConvStem, "Paper's 6x[conv3x3, InstanceNorm, GELU], 1-16-32-64-32-16-1")
    register("residual_conv", ResidualConvStem, "The conv stem plus a skip from its input")
