"""The spectrogram ViT: every plugin combination, positional behaviour, presets, fidelity."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate.config import resolve_model
from ablate.models import vit
from ablate.models.build import build_model, token_count
from ablate.models.flops import parameter_count
from ablate.plugins import get_registry

TINY = dict(dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64, dropout=0.0, emb_dropout=0.0)
PATCHINGS = ("vertical", "square", "horizontal")
POS_ENCODINGS = ("coordinate", "learned", "sinusoidal", "none")
STEMS = ("none", "conv", "residual_conv")
#: 128 x 200 needs a patch that fits: square 8 divides both sides (16 x 25 patches).
NON_SQUARE_ARGS = {"vertical": {"width": 1}, "square": {"size": 8}, "horizontal": {"height": 1}}
TOKENS = {
    (128, 128): {"vertical": 129, "square": 65, "horizontal": 129},
    (128, 200): {"vertical": 201, "square": 401, "horizontal": 129},
}


#: The paper's conv stem costs ~2.5 s forward+backward on 128x200 on a shared 2-core CPU, so
#: the 72-case matrix runs the same stem code (conv blocks, InstanceNorm, GELU, skip) two
#: blocks deep at a quarter width; the full six-block stem runs in the tests after it.
MATRIX_STEM_ARGS = {
    "conv": {"width": 0.25, "blocks": 2},
    "residual_conv": {"width": 0.25, "blocks": 2},
}


def tiny(patching: str, pos: str, stem: str, **extra) -> dict:
    return dict(TINY, preset="student", patching=patching, pos_encoding=pos, stem=stem, **extra)


def test_builtin_components_are_exactly_the_issue_s():
    registry = get_registry()
    assert set(registry.names("patching")) >= set(PATCHINGS)
    assert set(registry.names("pos_encoding")) >= set(POS_ENCODINGS)
    assert set(registry.names("stem")) >= set(STEMS)


@pytest.mark.parametrize("size", [(128, 128), (128, 200)], ids=["128x128", "128x200"])
@pytest.mark.parametrize(
    ("patching", "pos", "stem"), list(itertools.product(PATCHINGS, POS_ENCODINGS, STEMS))
)
def test_every_combination_runs_forward_and_backward(patching, pos, stem, size):
    torch.manual_seed(0)
    h, w = size
    args = NON_SQUARE_ARGS[patching] if size == (128, 200) else {}
    spec = tiny(patching, pos, stem, patching_args=args, stem_args=MATRIX_STEM_ARGS.get(stem, {}))
    model = build_model(resolve_model(spec), h, w, num_classes=4, registry=get_registry())
    assert token_count(model) == TOKENS[size][patching]
    x = torch.randn(2, 1, h, w)
    logits, pooled = model(x)
    assert logits.shape == (2, 4)
    assert pooled.shape == (2, TINY["dim"])
    (logits.sum() + pooled.sum()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # every trainable part receives signal: the stem (if any), embedding, CLS, encoder, head
    assert model.embed[1].weight.grad.abs().sum() > 0
    assert model.cls_token.grad.abs().sum() > 0
    for p in model.stem.parameters():
        assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("stem", ["conv", "residual_conv"])
def test_full_conv_stems_with_coordinates_on_a_non_square_input(stem):
    torch.manual_seed(0)
    model = build_model(
        resolve_model(tiny("vertical", "coordinate", stem)),
        128,
        200,
        num_classes=4,
        registry=get_registry(),
    )
    assert len([m for m in model.stem.modules() if isinstance(m, nn.Conv2d)]) == 6
    logits, pooled = model(torch.randn(2, 1, 128, 200))
    assert logits.shape == (2, 4)
    (logits.sum() + pooled.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.stem.net[0].weight.grad.abs().sum() > 0


def test_square_with_padding_on_a_non_square_input():
    model = build_model(
        resolve_model(tiny("square", "learned", "none", patching_args={"pad": True})),
        128,
        200,
        4,
        registry=get_registry(),
    )
    assert token_count(model) == 8 * 13 + 1  # 200 / 16 = 12.5 -> 13 columns
    logits, _ = model(torch.randn(2, 1, 128, 200))
    logits.sum().backward()
    assert torch.isfinite(model.pos.embedding.grad).all()


def test_coordinate_channels_enter_patching_after_the_stem():
    """stem -> coordinate channels -> patching: the patch input is [stem(x), rows, cols]."""
    model = build_model(
        resolve_model(tiny("vertical", "coordinate", "conv")),
        6,
        10,
        num_classes=3,
        registry=get_registry(),
    ).eval()
    seen = {}
    model.stem.register_forward_hook(lambda m, i, out: seen.setdefault("stem", out))
    model.patching.register_forward_pre_hook(lambda m, args: seen.setdefault("patch", args[0]))
    model(torch.randn(2, 1, 6, 10))
    image = seen["patch"]
    assert image.shape == (2, 3, 6, 10)
    torch.testing.assert_close(image[:, :1], seen["stem"])
    rows = torch.linspace(-1, 1, 6)[:, None].expand(6, 10)
    cols = torch.linspace(-1, 1, 10)[None, :].expand(6, 10)
    torch.testing.assert_close(image[0, 1], rows)
    torch.testing.assert_close(image[1, 2], cols)


@pytest.mark.parametrize(
    ("pos", "invariant"),
    [("none", True), ("coordinate", False), ("learned", False), ("sinusoidal", False)],
)
def test_reversing_time_changes_logits_only_with_positions(pos, invariant):
    torch.manual_seed(0)
    pos_args = {"init_std": 1.0} if pos == "learned" else {}
    spec = tiny("vertical", pos, "none", pos_encoding_args=pos_args)
    model = build_model(resolve_model(spec), 16, 24, num_classes=5, registry=get_registry()).eval()
    x = torch.randn(3, 1, 16, 24)
    with torch.no_grad():
        logits, _ = model(x)
        reversed_logits, _ = model(x.flip(-1))
    same = torch.allclose(logits, reversed_logits, atol=1e-5, rtol=1e-4)
    assert same is invariant, (logits - reversed_logits).abs().max()


def test_learned_encoding_at_default_init_still_breaks_permutation_invariance():
    torch.manual_seed(0)
    model = build_model(
        resolve_model(tiny("vertical", "learned", "none")),
        16,
        24,
        num_classes=5,
        registry=get_registry(),
    ).eval()
    x = torch.randn(3, 1, 16, 24)
    with torch.no_grad():
        assert not torch.allclose(model(x)[0], model(x.flip(-1))[0], atol=1e-6, rtol=0)


# --- presets -------------------------------------------------------------------------


def _layer_norm(n: int) -> int:
    return 2 * n


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _expected_vit_params(patch_dim, classes, dim, depth, heads, dim_head, mlp_dim) -> int:
    """Parameter count of the issue's architecture, written out layer by layer."""
    inner = heads * dim_head
    embed = _layer_norm(patch_dim) + _linear(patch_dim, dim) + _layer_norm(dim)
    cls = dim
    attention = _layer_norm(dim) + _linear(dim, 3 * inner, bias=False) + _linear(inner, dim)
    feed_forward = _layer_norm(dim) + _linear(dim, mlp_dim) + _linear(mlp_dim, dim)
    encoder = depth * (attention + feed_forward) + _layer_norm(dim)
    return embed + cls + encoder + _linear(dim, classes)


def _expected_conv_stem_params() -> int:
    """6 x [Conv3x3 (with bias), InstanceNorm2d (no affine), GELU], 1-16-32-64-32-16-1."""
    channels = [1, 16, 32, 64, 32, 16, 1]
    return sum(c_in * c_out * 9 + c_out for c_in, c_out in itertools.pairwise(channels))


def test_teacher_preset_matches_the_paper():
    model = build_model(
        resolve_model({"preset": "teacher"}), 128, 128, num_classes=7, registry=get_registry()
    )
    assert token_count(model) == 129
    blocks = model.transformer.layers
    assert len(blocks) == 6
    attention = blocks[0][0]
    assert attention.heads == 5
    assert attention.to_qkv.out_features == 3 * 5 * 64
    assert model.feature_dim == 256
    convs = [m for m in model.stem.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == list(
        itertools.pairwise([1, 16, 32, 64, 32, 16, 1])
    )
    assert model.pos.extra_channels == 2
    assert (model.patching.ph, model.patching.pw) == (128, 1)
    # patch dim: (1 image channel + 2 coordinate channels) x 128 x 1
    expected = _expected_vit_params(3 * 128, 7, 256, 6, 5, 64, 512) + _expected_conv_stem_params()
    assert parameter_count(model) == expected
    with torch.no_grad():
        logits, pooled = model(torch.randn(1, 1, 128, 128))
    assert logits.shape == (1, 7)
    assert pooled.shape == (1, 256)


def test_student_preset_matches_the_paper():
    model = build_model(
        resolve_model({"preset": "student"}), 128, 128, num_classes=7, registry=get_registry()
    )
    assert token_count(model) == 129
    assert len(model.transformer.layers) == 3
    assert model.transformer.layers[0][0].heads == 5
    assert model.pos.extra_channels == 0
    assert list(model.stem.parameters()) == []
    assert list(model.pos.parameters()) == []
    assert parameter_count(model) == _expected_vit_params(128, 7, 256, 3, 5, 64, 512)
    logits, pooled = model(torch.randn(2, 1, 128, 128))
    assert logits.shape == (2, 7)
    assert pooled.shape == (2, 256)


# --- fidelity of the building blocks ---------------------------------------------------


def test_patch_embedding_is_layernorm_linear_layernorm():
    model = build_model(
        resolve_model(tiny("vertical", "none", "none")),
        16,
        8,
        num_classes=2,
        registry=get_registry(),
    )
    kinds = [type(m) for m in model.embed]
    assert kinds == [nn.LayerNorm, nn.Linear, nn.LayerNorm]
    assert model.embed[0].normalized_shape == (16,)
    assert model.embed[2].normalized_shape == (TINY["dim"],)


def test_attention_uses_sdpa_and_matches_the_textbook_formula(monkeypatch):
    torch.manual_seed(0)
    attention = vit.Attention(dim=12, heads=3, dim_head=5, dropout=0.0).eval()
    x = torch.randn(2, 7, 12)
    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(
        vit.F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    out = attention(x)
    assert calls == [1]

    q, k, v = attention.to_qkv(attention.norm(x)).chunk(3, dim=-1)
    heads = [(t.reshape(2, 7, 3, 5).transpose(1, 2)) for t in (q, k, v)]
    weights = (heads[0] @ heads[1].transpose(-1, -2) / math.sqrt(5)).softmax(-1)
    mixed = (weights @ heads[2]).transpose(1, 2).reshape(2, 7, 15)
    torch.testing.assert_close(out, attention.to_out(mixed))


def test_transformer_is_pre_norm_with_residuals_and_a_final_norm():
    torch.manual_seed(0)
    encoder = vit.Transformer(dim=8, depth=2, heads=2, dim_head=4, mlp_dim=16, dropout=0.0)
    encoder.eval()
    x = torch.randn(2, 5, 8)
    expected = x
    for attention, feed_forward in encoder.layers:
        assert isinstance(attention.norm, nn.LayerNorm)
        assert isinstance(feed_forward[0], nn.LayerNorm)
        expected = expected + attention(expected)
        expected = expected + feed_forward(expected)
    torch.testing.assert_close(encoder(x), encoder.norm(expected))


def test_pooled_feature_is_the_normalised_cls_token_and_feeds_the_head():
    torch.manual_seed(0)
    model = build_model(
        resolve_model(tiny("vertical", "learned", "none")),
        16,
        8,
        num_classes=3,
        registry=get_registry(),
    ).eval()
    x = torch.randn(2, 1, 16, 8)
    logits, pooled = model(x)
    torch.testing.assert_close(logits, model.head(pooled))
    # LayerNorm output (default affine init): zero mean, unit variance per sample
    torch.testing.assert_close(pooled.mean(-1), torch.zeros(2), atol=1e-5, rtol=0)


def test_dropout_is_off_in_eval_mode():
    spec = dict(tiny("vertical", "none", "none"), dropout=0.5, emb_dropout=0.5)
    model = build_model(resolve_model(spec), 16, 8, num_classes=3, registry=get_registry()).eval()
    x = torch.randn(2, 1, 16, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x)[0])
