"""Built-in patchings: token layout, sizes, padding, errors."""

from __future__ import annotations

import pytest
import torch

from ablate.models.parts import ModelShape
from ablate.plugins import get_registry


def patching(name: str, height: int, width: int, /, **args):
    return get_registry().get("patching", name).build(ModelShape(height, width, 1, 8), args)


def test_parameters_and_defaults():
    registry = get_registry()
    assert registry.get("patching", "vertical").defaults() == {
        "width": 1,
        "pad": False,
        "stride": 0,
    }
    assert registry.get("patching", "conv_tokens").defaults() == {"channels": (16, 32)}
    assert registry.get("patching", "square").defaults() == {"size": 16, "pad": False}
    assert registry.get("patching", "horizontal").defaults() == {"height": 1, "pad": False}


def test_vertical_token_is_one_whole_frame():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 1, 4, 6)
    tokens = patching("vertical", 4, 6)(x)
    assert tokens.shape == (2, 6, 4)
    for t in range(6):
        torch.testing.assert_close(tokens[:, t], x[:, 0, :, t])


def test_horizontal_token_is_one_whole_mel_bin():
    x = torch.randn(2, 1, 4, 6)
    tokens = patching("horizontal", 4, 6)(x)
    assert tokens.shape == (2, 4, 6)
    torch.testing.assert_close(tokens, x[:, 0])


def test_square_tokens_are_row_major_and_channel_last():
    x = torch.randn(1, 3, 4, 6)
    tokens = patching("square", 4, 6, size=2)(x)
    assert tokens.shape == (1, 2 * 3, 2 * 2 * 3)
    # token 4 is grid cell (row 1, column 1): rows 2-3, columns 2-3, (ph, pw, c) flattened
    expected = x[0, :, 2:4, 2:4].permute(1, 2, 0).reshape(-1)
    torch.testing.assert_close(tokens[0, 4], expected)


def test_wider_vertical_patches():
    p = patching("vertical", 8, 12, width=3)
    assert (p.num_patches, p.patch_area) == (4, 24)
    assert p(torch.randn(1, 1, 8, 12)).shape == (1, 4, 24)


@pytest.mark.parametrize(
    ("name", "args"),
    [("square", {"size": 5}), ("vertical", {"width": 7}), ("horizontal", {"height": 3})],
)
def test_a_size_that_does_not_divide_is_a_clear_error(name, args):
    with pytest.raises(ValueError, match=r"does not divide the 8x12 input; .*pad=true"):
        patching(name, 8, 12, **args)


def test_padding_zero_fills_to_whole_patches():
    p = patching("square", 5, 7, size=4, pad=True)
    assert p.grid == (2, 2)
    x = torch.ones(1, 1, 5, 7)
    tokens = p(x)
    assert tokens.shape == (1, 4, 16)
    assert tokens.sum() == 5 * 7  # the padded cells are zeros
    assert tokens[0, 3].reshape(4, 4)[1:, :].sum() == 0  # rows 5-7 are padding


def test_non_positive_sizes_are_rejected():
    with pytest.raises(ValueError, match="patch size must be >= 1"):
        patching("square", 8, 8, size=0)


def test_vertical_stride_overlaps_windows():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 1, 4, 6)
    tokens = patching("vertical", 4, 6, width=2, stride=1)(x)
    assert tokens.shape == (2, 5, 8)
    # token t holds frames t and t + 1 (each window's pixels row-major: bin, frame)
    torch.testing.assert_close(tokens[:, 1].reshape(2, 4, 2), x[:, 0, :, 1:3])


def test_conv_tokens_give_one_token_per_frame_and_learn():
    layer = patching("conv_tokens", 64, 10, channels=[8, 16])
    assert (layer.num_patches, layer.patch_dim) == (10, 16 * 16)
    x = torch.randn(3, 1, 64, 10)
    tokens = layer(x)
    assert tokens.shape == (3, 10, 256)
    assert sum(p.numel() for p in layer.parameters()) > 0
    tokens.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_conv_tokens_rows_round_up_for_odd_heights():
    layer = patching("conv_tokens", 5, 4, channels=[4])
    assert layer.patch_dim == 4 * 3
    assert layer(torch.randn(2, 1, 5, 4)).shape == (2, 4, 12)
