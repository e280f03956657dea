"""Model assembly from configs: presets, overrides, errors, counted FLOPs."""

from __future__ import annotations

import pytest
import torch

from ablate.config import PRESETS, make_config, resolve_model
from ablate.config import resolve_model as resolve
from ablate.errors import AblateError
from ablate.models.build import build_model, feature_dim, token_count
from ablate.models.cnn import ReferenceCNN
from ablate.models.flops import forward_flops, parameter_count
from ablate.models.linear import LinearClassifier
from ablate.plugins import get_registry

TINY = dict(dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64, dropout=0.0, emb_dropout=0.0)


def test_resolve_fills_missing_and_null_fields_from_the_preset():
    spec = resolve({"preset": "teacher", "depth": 2, "stem": None})
    assert spec["depth"] == 2
    assert spec["stem"] == "conv"
    assert spec["patching"] == "vertical"
    assert spec["pos_encoding"] == "coordinate"
    assert (spec["dim"], spec["heads"], spec["dim_head"]) == (256, 5, 64)
    assert spec["patching_args"] == {}


def test_presets_are_resolved_once_when_the_config_is_made():
    config = make_config(dotlist=["model.preset=student", "model.heads=2"])
    assert config.model.heads == 2
    assert config.model.depth == PRESETS["student"]["depth"] == 3
    assert config.model.pos_encoding == "none"
    assert config.distill.teacher.stem == "conv"  # the teacher's own preset
    assert resolve(config.model) == dict(config.model)  # nothing left to fill


def test_presets_are_the_paper_s():
    teacher, student = PRESETS["teacher"], PRESETS["student"]
    assert (teacher["stem"], teacher["pos_encoding"], teacher["patching"]) == (
        "conv",
        "coordinate",
        "vertical",
    )
    assert (teacher["dim"], teacher["depth"], teacher["heads"], teacher["dim_head"]) == (
        256,
        6,
        5,
        64,
    )
    assert (student["stem"], student["pos_encoding"], student["patching"]) == (
        "none",
        "none",
        "vertical",
    )
    assert (student["dim"], student["depth"], student["heads"]) == (256, 3, 5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"preset": "giant"}, "model.preset: unknown preset 'giant'; known: teacher, student"),
        ({"preset": "student", "dimm": 3}, "model.dimm: not a model field"),
        ({"preset": "cnn", "patching": "square"}, "model.patching: the cnn preset takes no"),
        ({"preset": "linear", "stem": "conv"}, "model.stem: the linear preset takes no"),
        ({"preset": "linear", "distill_token": True}, "the linear preset has no tokens"),
    ],
)
def test_resolve_errors_are_one_line(spec, message):
    with pytest.raises(AblateError, match=message) as info:
        resolve(spec)
    assert "\n" not in str(info.value)


def test_unknown_component_lists_the_known_names():
    with pytest.raises(AblateError) as info:
        build_model(
            resolve_model(dict(TINY, preset="student", patching="diagonal")),
            128,
            128,
            4,
            registry=get_registry(),
        )
    message = str(info.value)
    assert message == (
        "model.patching: unknown patching 'diagonal'; "
        "known: conv_tokens, horizontal, square, vertical"
    )


def test_a_patch_that_does_not_divide_is_a_clear_error():
    spec = dict(TINY, preset="student", patching="square")  # 16 does not divide 200
    with pytest.raises(AblateError) as info:
        build_model(resolve_model(spec), 128, 200, 4, registry=get_registry())
    message = str(info.value)
    assert message.startswith("model.patching: patching 'square' (ablate): patch 16x16")
    assert "set pad=true" in message
    assert "\n" not in message


def test_bad_plugin_arguments_name_the_config_key():
    spec = dict(TINY, preset="student", stem="conv", stem_args={"widht": 2.0})
    with pytest.raises(AblateError, match=r"model\.stem_args\.widht: .*width, blocks"):
        build_model(resolve_model(spec), 16, 16, 4, registry=get_registry())
    spec = dict(TINY, preset="student", patching="square", patching_args={"size": "big"})
    with pytest.raises(AblateError, match=r"model\.patching_args\.size: expected int"):
        build_model(resolve_model(spec), 16, 16, 4, registry=get_registry())
    spec = dict(TINY, preset="student", patching="square", patching_args={"size": 0})
    with pytest.raises(AblateError, match="patch size must be >= 1"):
        build_model(resolve_model(spec), 16, 16, 4, registry=get_registry())


def test_plugin_arguments_reach_the_component():
    spec = dict(TINY, preset="student", patching="vertical", patching_args={"width": 4})
    model = build_model(resolve_model(spec), 16, 32, 4, registry=get_registry())
    assert token_count(model) == 32 // 4 + 1
    assert model.patching.patch_area == 16 * 4


def test_dotlist_overrides_build_the_model():
    config = make_config(
        dotlist=[
            "model.preset=teacher",
            "model.depth=1",
            "model.dim=32",
            "model.heads=2",
            "model.dim_head=16",
            "model.stem=none",
            "model.patching=square",
            "model.patching_args.size=8",
            "model.pos_encoding=learned",
            "data.frames=64",
        ]
    )
    model = build_model(
        resolve_model(config.model),
        config.data.n_mels,
        config.data.frames,
        7,
        registry=get_registry(),
    )
    assert token_count(model) == (128 // 8) * (64 // 8) + 1
    assert model.pos.embedding.shape == (1, token_count(model), 32)
    logits, pooled = model(torch.randn(1, 1, 128, 64))
    assert logits.shape == (1, 7)
    assert pooled.shape == (1, 32)


def test_cnn_preset():
    model = build_model(resolve_model({"preset": "cnn"}), 128, 128, 7, registry=get_registry())
    assert isinstance(model, ReferenceCNN)
    assert token_count(model) == 0
    logits, pooled = model(torch.randn(2, 1, 64, 64))
    assert logits.shape == (2, 7)
    assert pooled.shape == (2, 256)


def test_linear_preset_is_logistic_regression_on_the_flattened_input():
    model = build_model(resolve_model({"preset": "linear"}), 88, 1, 8, registry=get_registry())
    assert isinstance(model, LinearClassifier) and token_count(model) == 0
    assert parameter_count(model) == 88 * 8 + 8
    x = torch.randn(3, 1, 88, 1)
    logits, feature = model(x)
    assert torch.equal(feature, x.flatten(1)) and model.feature_dim == 88
    assert torch.allclose(logits, x.flatten(1) @ model.head.weight.T + model.head.bias)
    assert forward_flops(model, 88, 1) == 2 * 88 * 8
    assert feature_dim(resolve({"preset": "linear"}), 32, 4) == 128
    torch.manual_seed(0)
    dropped, ones = (
        build_model(
            resolve_model({"preset": "linear", "dropout": 0.5}), 32, 4, 2, registry=get_registry()
        ),
        torch.ones(1, 1, 32, 4),
    )
    assert not torch.equal(dropped.train()(ones)[0], dropped.eval()(ones)[0])


def _analytic_layer_flops(tokens, dim, heads, dim_head, mlp_dim) -> int:
    """Matmul FLOPs (2 per multiply-add) of one encoder block on one sample."""
    inner = heads * dim_head
    linears = tokens * (dim * 3 * inner + inner * dim + dim * mlp_dim + mlp_dim * dim)
    attention = heads * tokens * tokens * dim_head * 2  # Q K^T and weights @ V
    return 2 * (linears + attention)


def test_forward_flops_are_counted_and_scale_with_depth():
    def flops(depth: int) -> int:
        spec = dict(TINY, preset="student", depth=depth)
        return forward_flops(
            build_model(resolve_model(spec), 16, 24, 5, registry=get_registry()), 16, 24
        )

    one, two, three = flops(1), flops(2), flops(3)
    per_layer = _analytic_layer_flops(tokens=25, dim=32, heads=2, dim_head=16, mlp_dim=64)
    # every block, attention (SDPA) included, is counted exactly
    assert two - one == per_layer
    assert three - two == per_layer
    embed_and_head = 2 * (24 * 16 * 32 + 32 * 5)
    assert one == per_layer + embed_and_head


def test_forward_flops_restores_training_mode_and_parameter_count():
    model = build_model(
        resolve_model(dict(TINY, preset="student")), 16, 8, 3, registry=get_registry()
    ).train()
    assert forward_flops(model, 16, 8) > 0
    assert model.training
    frozen = sum(p.numel() for p in model.head.parameters())
    for p in model.head.parameters():
        p.requires_grad_(False)
    assert parameter_count(model) == sum(p.numel() for p in model.parameters()) - frozen
