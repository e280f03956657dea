"""Built-in stems: identity, the paper's conv stem, the residual conv stem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.errors import AblateError
from ablate.models.parts import ModelShape
from ablate.plugins import get_registry

SHAPE = ModelShape(8, 12, 1, 16)


def stem(name: str, **args):
    return get_registry().get("stem", name).build(SHAPE, args)


def conv_channels(module: nn.Module) -> list[int]:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return [convs[0].in_channels] + [c.out_channels for c in convs]


def test_identity():
    s = stem("none")
    x = torch.randn(2, 1, 8, 12)
    assert s(x) is x
    assert s.out_channels == 1


def test_conv_stem_is_the_paper_s_six_blocks():
    s = stem("conv")
    assert conv_channels(s) == [1, 16, 32, 64, 32, 16, 1]
    layers = list(s.net)
    assert len(layers) == 18
    for i in range(0, 18, 3):
        conv, norm, act = layers[i : i + 3]
        assert isinstance(conv, nn.Conv2d)
        assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
        assert isinstance(norm, nn.InstanceNorm2d)
        assert isinstance(act, nn.GELU)
    assert s.out_channels == 1
    assert s(torch.randn(2, 1, 8, 12)).shape == (2, 1, 8, 12)


@pytest.mark.parametrize(
    ("args", "channels"),
    [
        ({"width": 0.5}, [1, 8, 16, 32, 16, 8, 1]),
        ({"width": 2.0}, [1, 32, 64, 128, 64, 32, 1]),
        ({"blocks": 4}, [1, 16, 32, 16, 1]),
        ({"blocks": 1}, [1, 1]),
    ],
)
def test_conv_stem_width_and_depth(args, channels):
    assert conv_channels(stem("conv", **args)) == channels


def test_invalid_block_count_and_width():
    with pytest.raises(ValueError, match="blocks must be >= 1"):
        stem("conv", blocks=0)
    with pytest.raises(ValueError, match="width must be > 0"):
        stem("conv", width=0.0)


def test_int_width_is_accepted_and_strings_are_not():
    assert conv_channels(stem("conv", width=1)) == [1, 16, 32, 64, 32, 16, 1]
    with pytest.raises(AblateError, match=r"stem_args\.width: expected float"):
        stem("conv", width="wide")


def test_residual_conv_adds_its_input():
    s = stem("residual_conv", blocks=2)
    x = torch.randn(2, 1, 8, 12)
    torch.testing.assert_close(s(x), x + s.net(x))
