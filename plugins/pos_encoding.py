"""Positional encodings: image coordinates (the paper's ICE), learned, sinusoidal, none, and
inside attention 2-D rotary embeddings (RoPE) and 2-D distance biases (ALiBi)."""

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


def grid_positions(grid: tuple[int, int] | None, patches: int) -> torch.Tensor:
    """``(patches, 2)``: each patch token's row and column on the patching's row-major grid
    (one row of ``patches`` when the patching declares no grid)."""
    rows, cols = grid or (1, patches)
    index = torch.arange(rows * cols)
    return torch.stack([index // cols, index % cols], dim=1).float()


def rope_angles(
    grid: tuple[int, int] | None, patches: int, pairs: int, base: float
) -> torch.Tensor:
    """``(patches, pairs)`` rotation angles of 2-D axial RoPE.

    The rotary pairs are split between the grid's axes that have more than one position
    (rows first, half each): pair ``i`` of an axis given ``n`` pairs turns by the token's
    position on that axis times ``base ** (-i / n)``. A grid of one row (vertical
    patches) or one column (horizontal) gives every pair to the other axis: 1-D RoPE.
    """
    positions = grid_positions(grid, patches)
    axes = [positions[:, axis] for axis in (0, 1) if positions[:, axis].max() > 0]
    if not axes:
        return torch.zeros(len(positions), pairs)
    shares = [pairs // len(axes)] * len(axes)
    shares[-1] += pairs - sum(shares)
    return torch.cat(
        [
            pos[:, None] * base ** (-torch.arange(n) / n)
            for pos, n in zip(axes, shares, strict=True)
        ],
        dim=1,
    )


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turns feature ``i`` and ``i + d/2`` of each token by its angle (``cos``/``sin`` of
    shape ``(N, d)``, each angle twice: the half-split RoPE layout of GPT-NeoX and Llama)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class Rope(PositionalEncoding):
    """2-D axial rotary position embedding (RoFormer; the axial ViT variant of EVA and
    Heo et al. 2024): every attention layer turns the queries and keys of each patch token
    by its row and column on the patch grid, so their scores depend on relative offsets.
    CLS and the distillation token are not turned (position zero on every axis)."""

    def __init__(self, shape: ModelShape, base: float = 10000.0):
        super().__init__()
        if shape.dim_head % 2:
            raise ValueError(
                f"rope turns pairs of features: dim_head must be even, got {shape.dim_head}"
            )
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
        patches = shape.num_tokens - 1
        angles = rope_angles(shape.grid, patches, shape.dim_head // 2, base).repeat(1, 2)
        prefix = torch.zeros(shape.prefix_tokens, shape.dim_head)
        angles = torch.cat([prefix, angles])
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin = self.cos.to(q.dtype), self.sin.to(q.dtype)
        return rotate_pairs(q, cos, sin), rotate_pairs(k, cos, sin)


def alibi_slopes(heads: int) -> torch.Tensor:
    """Press et al.'s per-head slopes: ``2 ** (-8 i / heads)`` for ``i = 1..heads`` when
    ``heads`` is a power of two; otherwise those of the power of two below, then every
    other slope of the one above."""

    def geometric(n: int) -> list[float]:
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]

    below = 2 ** math.floor(math.log2(heads))
    return torch.tensor(geometric(below) + geometric(2 * below)[0::2][: heads - below])


DISTANCES = {"euclidean": 2.0, "manhattan": 1.0}


class Alibi(PositionalEncoding):
    """2-D ALiBi: every attention layer adds ``-slope[head] * distance(query, key)`` to the
    scores, the distance between the two patches' (row, column) on the patch grid in
    patch units (``euclidean`` or ``manhattan``; on one row or column both are ``|i - j|``,
    1-D ALiBi without its causal mask). Rows and columns of CLS and the distillation token
    get no bias."""

    def __init__(self, shape: ModelShape, distance: str = "euclidean"):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
        if shape.heads < 1:
            raise ValueError(f"alibi needs the number of heads, got {shape.heads}")
        positions = grid_positions(shape.grid, shape.num_tokens - 1)
        offsets = positions[:, None] - positions[None]
        far = torch.linalg.vector_norm(offsets, ord=DISTANCES[distance], dim=-1)
        n, prefix = shape.attention_tokens, shape.prefix_tokens
        bias = torch.zeros(shape.heads, n, n)
        bias[:, prefix:, prefix:] = -alibi_slopes(shape.heads)[:, None, None] * far
        self.register_buffer("bias", bias, persistent=False)

    def attention_bias(self, n_tokens: int) -> torch.Tensor:
        if n_tokens != self.bias.shape[-1]:
            raise ValueError(f"built for {self.bias.shape[-1]} tokens, got {n_tokens}")
        return self.bias


@hookimpl
def register_pos_encodings(register):
    register("coordinate", Coordinate, "Row/column coordinate channels in [-1, 1] (paper's ICE)")
    register("learned", Learned, "Trained embedding added to each token, CLS included")
    register("sinusoidal", Sinusoidal, "Fixed sine/cosine embedding of the token index")
    register("none", NoEncoding, "No positional information")
    register("rope", Rope, "2-D axial rotary embedding of queries and keys by patch row/column")
    register("alibi", Alibi, "2-D ALiBi: per-head slope x patch-grid distance added to scores")
