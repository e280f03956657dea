"""Positional encodings: image coordinates (the paper's ICE), learned, sinusoidal, none."""

import math

import torch
from torch import nn

from ablate import hookimpl
from ablate.contracts import ModelShape, PositionalEncoding


def coordinate_grid(height: int, width: int) -> torch.Tensor:
    """``(2, H, W)``: each pixel's row and column, each normalised to [-1, 1] on its own axis."""
    rows = torch.linspace(-1.0, 1.0, height) if height > 1 else torch.zeros(1)
    cols = torch.linspace(-1.0, 1.0, width) if width > 1 else torch.zeros(1)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"))


class Coordinate(PositionalEncoding):
    """Concatenates row and column coordinate channels to the image after the stem."""

    extra_channels = 2

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.register_buffer("grid", coordinate_grid(shape.height, shape.width), persistent=False)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.grid.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        return torch.cat([x, grid], dim=1)


class Learned(PositionalEncoding):
    """A trained embedding per token position, CLS included."""

    def __init__(self, shape: ModelShape, init_std: float = 0.02):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(1, shape.num_tokens, shape.dim) * init_std)

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return t + self.embedding


class Sinusoidal(PositionalEncoding):
    """Fixed sine/cosine embedding of the token index (Vaswani et al.), CLS at index 0."""

    def __init__(self, shape: ModelShape, base: float = 10000.0):
        super().__init__()
        position = torch.arange(shape.num_tokens, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, shape.dim, 2) * (-math.log(base) / shape.dim))
        table = torch.zeros(shape.num_tokens, shape.dim)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq)[:, : shape.dim // 2]
        self.register_buffer("table", table[None], persistent=False)

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return t + self.table.to(t.dtype)


class NoEncoding(PositionalEncoding):
    """No positional information: the encoder sees an unordered set of tokens."""

    def __init__(self, shape: ModelShape):
        super().__init__()


@hookimpl
def register_pos_encodings(register):
    register("coordinate", Coordinate, "Row/column coordinate channels in [-1, 1] (paper's ICE)")
    register("learned", Learned, "Trained embedding added to each token, CLS included")
    register("sinusoidal", Sinusoidal, "Fixed sine/cosine embedding of the token index")
    register("none", NoEncoding, "No positional information")
