"""Built-in positional encodings: coordinate values, learned, sinusoidal, none."""

from __future__ import annotations

import math

import torch
from ablate_plugins.pos_encoding import coordinate_grid

from ablate.models.parts import ModelShape
from ablate.plugins import get_registry


def encoding(name: str, shape: ModelShape, **args):
    return get_registry().get("pos_encoding", name).build(shape, args)


def test_coordinate_grid_on_a_non_square_input_is_right_on_both_axes():
    grid = coordinate_grid(4, 7)
    assert grid.shape == (2, 4, 7)
    rows, cols = grid
    # rows: linspace over the 4 rows, constant along each row
    expected_rows = torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0])
    for c in range(7):
        torch.testing.assert_close(rows[:, c], expected_rows)
    # columns: linspace over the 7 columns (not the 4 rows), constant down each column
    expected_cols = torch.tensor([-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0])
    for r in range(4):
        torch.testing.assert_close(cols[r], expected_cols)
    # corners are exactly +-1
    assert rows[0, 0].item() == -1.0 and rows[-1, -1].item() == 1.0
    assert cols[0, 0].item() == -1.0 and cols[-1, -1].item() == 1.0
    assert rows[0, -1].item() == -1.0 and cols[0, -1].item() == 1.0
    assert rows[-1, 0].item() == 1.0 and cols[-1, 0].item() == -1.0
    assert grid.abs().max().item() == 1.0


def test_coordinate_grid_tall_input_and_single_row():
    rows, cols = coordinate_grid(7, 4)
    torch.testing.assert_close(rows[:, 0], torch.linspace(-1, 1, 7))
    torch.testing.assert_close(cols[0], torch.linspace(-1, 1, 4))
    rows, cols = coordinate_grid(1, 3)
    assert rows.eq(0).all()
    torch.testing.assert_close(cols[0], torch.tensor([-1.0, 0.0, 1.0]))


def test_coordinate_encoding_concatenates_two_channels():
    coord = encoding("coordinate", ModelShape(4, 7, 1, 8, 8))
    assert coord.extra_channels == 2
    assert list(coord.parameters()) == []
    x = torch.randn(3, 1, 4, 7)
    out = coord.image(x)
    assert out.shape == (3, 3, 4, 7)
    torch.testing.assert_close(out[:, 0], x[:, 0])
    for b in range(3):
        torch.testing.assert_close(out[b, 1:], coordinate_grid(4, 7))
    tokens = torch.randn(3, 8, 8)
    assert coord.tokens(tokens) is tokens


def test_learned_encoding_covers_every_token_including_cls():
    learned = encoding("learned", ModelShape(4, 7, 1, 16, 8), init_std=0.5)
    assert learned.embedding.shape == (1, 8, 16)
    assert learned.embedding.requires_grad
    tokens = torch.zeros(2, 8, 16)
    torch.testing.assert_close(learned.tokens(tokens), learned.embedding.expand(2, -1, -1))
    assert learned.extra_channels == 0


def test_sinusoidal_encoding_is_the_fixed_vaswani_table():
    sin = encoding("sinusoidal", ModelShape(4, 7, 1, 6, 5))
    assert list(sin.parameters()) == []
    table = sin.tokens(torch.zeros(1, 5, 6))[0]
    for pos in range(5):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert math.isclose(table[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(table[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
    # CLS sits at index 0: sin 0 = 0, cos 0 = 1
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0] * 3))


def test_sinusoidal_with_an_odd_dim():
    sin = encoding("sinusoidal", ModelShape(4, 7, 1, 5, 3))
    assert sin.tokens(torch.zeros(2, 3, 5)).shape == (2, 3, 5)


def test_none_changes_nothing():
    none = encoding("none", ModelShape(4, 7, 1, 8, 8))
    x, t = torch.randn(2, 1, 4, 7), torch.randn(2, 8, 8)
    assert none.image(x) is x
    assert none.tokens(t) is t
    assert none.extra_channels == 0
