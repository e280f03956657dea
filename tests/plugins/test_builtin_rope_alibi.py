"""Built-in encodings inside attention: 2-D axial RoPE (``rope``) and 2-D ALiBi (``alibi``)."""

from __future__ import annotations

import itertools

import pytest
import torch

from ablate.config import resolve_model
from ablate.contracts import ModelShape
from ablate.errors import AblateError
from ablate.models.build import build_model, token_count
from ablate.plugins import get_registry

TINY = dict(preset="student", dim=16, depth=1, heads=2, dim_head=8, mlp_dim=32)


def encoding(name: str, grid: tuple[int, int], prefix: int = 1, heads: int = 2, **args):
    tokens = grid[0] * grid[1] + 1
    shape = ModelShape(32, 32, 1, 16, tokens, grid, heads=heads, dim_head=8, prefix_tokens=prefix)
    return get_registry().get("pos_encoding", name).build(shape, args)


def _complex_rope(x, positions, shares, base):
    """RoPE written with complex numbers: pair j is ``x[j] + i x[j + d/2]``, turned by its
    axis's position times ``base ** (-i / n)`` (i its index among the axis's n pairs)."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    angles = []
    for axis, n in shares:
        angles += [positions[:, axis, None].double() * base ** (-torch.arange(n) / n)]
    turned = z * torch.polar(torch.ones(1, dtype=torch.double), torch.cat(angles, -1))
    return torch.cat([turned.real, turned.imag], -1).float()


def test_rope_turns_half_the_pairs_by_row_and_half_by_column_and_leaves_cls_alone():
    rope = encoding("rope", (2, 3), base=100.0)
    q, k = torch.randn(2, 2, 7, 8), torch.randn(2, 2, 7, 8)
    turned_q, turned_k = rope.rotate(q, k)
    torch.testing.assert_close(turned_q[:, :, 0], q[:, :, 0])  # CLS
    positions = torch.tensor(list(itertools.product(range(2), range(3))))
    expected = _complex_rope(q[:, :, 1:], positions, [(0, 2), (1, 2)], 100.0)
    torch.testing.assert_close(turned_q[:, :, 1:], expected)
    torch.testing.assert_close(turned_k.norm(dim=-1), k.norm(dim=-1))


def test_rope_scores_depend_on_the_offset_between_patches_on_both_axes():
    rope = encoding("rope", (3, 4))
    q, k = torch.randn(8).expand(1, 1, 13, 8), torch.randn(8).expand(1, 1, 13, 8)
    turned_q, turned_k = rope.rotate(q, k)
    scores = (turned_q @ turned_k.transpose(-2, -1))[0, 0]

    def at(row, col):
        return 1 + row * 4 + col

    torch.testing.assert_close(scores[at(0, 0), at(1, 2)], scores[at(1, 1), at(2, 3)])
    torch.testing.assert_close(scores[at(2, 0), at(0, 1)], scores[at(2, 2), at(0, 3)])
    assert not torch.allclose(scores[at(0, 0), at(1, 2)], scores[at(0, 0), at(2, 1)])


def test_rope_on_one_row_or_one_column_is_1d_rope_over_all_pairs():
    q = torch.randn(1, 2, 9, 8)
    vertical, _ = encoding("rope", (1, 8)).rotate(q, q)
    horizontal, _ = encoding("rope", (8, 1)).rotate(q, q)
    torch.testing.assert_close(vertical, horizontal)
    frames = torch.stack([torch.zeros(8), torch.arange(8.0)], 1).long()
    torch.testing.assert_close(
        vertical[:, :, 1:], _complex_rope(q[:, :, 1:], frames, [(1, 4)], 1e4)
    )


def test_rope_leaves_the_distillation_token_alone_too():
    rope = encoding("rope", (1, 4), prefix=2)
    q = torch.randn(1, 2, 6, 8)
    turned, _ = rope.rotate(q, q)
    torch.testing.assert_close(turned[:, :, :2], q[:, :, :2])
    assert not torch.allclose(turned[:, :, 3:], q[:, :, 3:])


def test_alibi_slopes_are_press_et_al_s():
    from ablate_plugins.pos_encoding import alibi_slopes

    torch.testing.assert_close(alibi_slopes(8), 2.0 ** -torch.arange(1.0, 9.0))
    torch.testing.assert_close(alibi_slopes(5), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1]))


@pytest.mark.parametrize(("distance", "far"), [("euclidean", 5**0.5), ("manhattan", 3.0)])
def test_alibi_adds_minus_slope_times_grid_distance_and_nothing_for_cls(distance, far):
    alibi = encoding("alibi", (2, 3), prefix=2, distance=distance)
    bias = alibi.attention_bias(8)
    assert bias.shape == (2, 8, 8)
    assert bias[:, :2].eq(0).all() and bias[:, :, :2].eq(0).all()  # CLS, distillation token
    first, last = 2, 2 + 1 * 3 + 2  # patches (0, 0) and (1, 2)
    torch.testing.assert_close(bias[:, first, last], -torch.tensor([2**-4, 2**-8]) * far)
    torch.testing.assert_close(bias[:, first, first + 1], -torch.tensor([2**-4, 2**-8]))
    torch.testing.assert_close(bias, bias.transpose(1, 2))
    with pytest.raises(ValueError, match="built for 8 tokens, got 9"):
        alibi.attention_bias(9)


PATCHINGS = {
    "vertical": {},
    "square": {"size": 8},
    "horizontal": {},
    "conv_tokens": {"channels": [4]},
}


@pytest.mark.parametrize("distill_token", [False, True], ids=["cls", "cls+distillation"])
@pytest.mark.parametrize("patching", PATCHINGS)
@pytest.mark.parametrize("pos", ["rope", "alibi"])
def test_rope_and_alibi_build_train_and_change_outputs_for_every_patching(
    pos, patching, distill_token
):
    """Depth 2: CLS has no bias, so ALiBi reaches it through the patch tokens of layer 1."""
    spec = dict(TINY, depth=2, patching=patching, patching_args=PATCHINGS[patching])
    spec["distill_token"] = distill_token
    torch.manual_seed(0)
    model = build_model(
        resolve_model(dict(spec, pos_encoding=pos)), 32, 16, 4, registry=get_registry()
    ).eval()
    torch.manual_seed(0)
    plain = build_model(
        resolve_model(dict(spec, pos_encoding="none")), 32, 16, 4, registry=get_registry()
    ).eval()
    assert token_count(model) == token_count(plain)
    x = torch.randn(2, 1, 32, 16)
    logits, _ = model(x)
    assert (logits - plain(x)[0]).abs().max() > 1e-5  # float noise is ~1e-7
    model.train()(x)[0].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize(("pos", "invariant"), [("rope", False), ("alibi", True)])
def test_reversing_time_changes_logits_with_rope_but_not_with_alibi(pos, invariant):
    """ALiBi's distances are symmetric: on one row of vertical patches a sequence and its
    reverse get the same biases, so a CLS-pooled model cannot tell them apart; RoPE's
    signed offsets can."""
    torch.manual_seed(0)
    model = build_model(
        resolve_model(dict(TINY, pos_encoding=pos)), 16, 24, 5, registry=get_registry()
    ).eval()
    x = torch.randn(3, 1, 16, 24)
    with torch.no_grad():
        same = torch.allclose(model(x)[0], model(x.flip(-1))[0], atol=1e-5, rtol=1e-4)
    assert same is invariant


def test_an_odd_dim_head_is_one_line():
    with pytest.raises(AblateError) as info:
        build_model(
            resolve_model(dict(TINY, dim_head=5, pos_encoding="rope")),
            16,
            8,
            4,
            registry=get_registry(),
        )
    assert str(info.value) == (
        "model.pos_encoding: pos_encoding 'rope' (ablate): rope turns pairs of features: "
        "dim_head must be even, got 5"
    )
