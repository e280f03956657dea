"""The contracts in ablate.contracts: the Patching base's windows and duck-typed plugins."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.contracts import DistillLoss, ModelShape, Patching, PositionalEncoding, Stem


def test_overlapping_windows_from_a_stride_alone():
    patching = Patching(ModelShape(8, 12, 2, 16), 4, 4, stride=2)
    assert patching.grid == (3, 5) and patching.num_patches == 15
    assert patching.patch_dim == 2 * 4 * 4
    x = torch.randn(1, 2, 8, 12)
    tokens = patching(x)
    assert tokens.shape == (1, 15, 32)
    # token (row 1, column 2): rows 2-5, columns 4-7, (ph, pw, C) flattened
    torch.testing.assert_close(tokens[0, 7], x[0, :, 2:6, 4:8].permute(1, 2, 0).reshape(-1))


def test_windows_that_do_not_tile_are_an_error_unless_padded():
    with pytest.raises(ValueError, match=r"windows 4x4 at stride 3x3 do not tile the 8x12 input"):
        Patching(ModelShape(8, 12, 1, 16), 4, 4, stride=(3, 3))
    padded = Patching(ModelShape(8, 12, 1, 16), 4, 4, pad=True, stride=(3, 3))
    assert padded.grid == (3, 4)  # rows 0-3, 3-6, 6-9 (padded); columns up to 9-12
    tokens = padded(torch.ones(1, 1, 8, 12))
    assert tokens.shape == (1, 12, 16)
    assert tokens[0, -1].reshape(4, 4)[2:].sum() == 0  # rows 8-9 are padding
    with pytest.raises(ValueError, match="stride must be >= 1"):
        Patching(ModelShape(8, 12, 1, 16), 4, 4, stride=0)


def test_a_duck_typed_part_gets_the_optional_attributes_and_must_have_the_required():
    plain = nn.Identity()
    assert PositionalEncoding.problem(plain) is None
    assert plain.extra_channels == 0
    loss = nn.L1Loss()
    assert DistillLoss.problem(loss) is None
    assert (loss.note, loss.active) == (None, True)
    assert Stem.problem(nn.Identity()) == (
        "has no attribute out_channels (see ablate.contracts.Stem)"
    )
    assert Patching.problem(lambda x: x) == (
        "returned function, not a torch.nn.Module (subclass Patching)"
    )
    sized = nn.Identity()
    sized.out_channels = 2.0
    assert Stem.problem(sized) == "declares out_channels = 2.0; expected an int >= 1"


def test_the_old_import_path_of_the_model_contracts_still_works():
    """Plugins written for ablate 0.1 import them from ablate.models.parts."""
    from ablate.models import parts

    assert (parts.Patching, parts.ModelShape) == (Patching, ModelShape)
