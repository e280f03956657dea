"""Intermediates for distillation: ``model(x, intermediates)`` returns the tokens, each
block's output and each block's attention probabilities, computed only when asked."""

from __future__ import annotations

import pytest
import torch

from ablate.config import resolve_model
from ablate.models import vit
from ablate.models.build import build_model, encoder_shape
from ablate.plugins import get_registry

TINY = dict(preset="student", dim=16, depth=2, heads=2, dim_head=8, mlp_dim=32)
ALL = frozenset({"tokens", "layers", "attention"})


def _model(**extra):
    torch.manual_seed(0)
    return build_model(resolve_model(dict(TINY, **extra)), 16, 8, 4, registry=get_registry())


def test_intermediates_have_their_documented_shapes_and_values():
    model = _model(dropout=0.0, emb_dropout=0.0).eval()
    inputs = []
    model.transformer.layers[1][0].register_forward_pre_hook(lambda m, a: inputs.append(a[0]))
    x = torch.randn(3, 1, 16, 8)
    with torch.no_grad():
        plain_logits, plain_feature = model(x)
        logits, feature, found = model(x, intermediates=ALL)
    torch.testing.assert_close(logits, plain_logits)
    torch.testing.assert_close(feature, plain_feature)
    assert found.feature is feature and found.logits is logits
    assert found.tokens.shape == (3, 9, 16)  # CLS + 8 frames
    torch.testing.assert_close(found.tokens[:, 0], feature)
    assert [tuple(t.shape) for t in found.layers] == [(3, 9, 16)] * 2
    torch.testing.assert_close(model.transformer.norm(found.layers[-1]), found.tokens)
    assert [tuple(a.shape) for a in found.attention] == [(3, 2, 9, 9)] * 2
    torch.testing.assert_close(found.attention[1].sum(-1), torch.ones(3, 2, 9))
    # the second block's probabilities, recomputed from its input (the first block's output)
    attention = model.transformer.layers[1][0]
    torch.testing.assert_close(inputs[-1], found.layers[0])
    q, k, _ = attention.to_qkv(attention.norm(found.layers[0])).reshape(3, 9, 3, 2, 8).unbind(2)
    scores = q.transpose(1, 2) @ k.permute(0, 2, 3, 1) * 8**-0.5
    torch.testing.assert_close(found.attention[1], scores.softmax(-1))


def test_only_what_is_asked_is_computed():
    model = _model().eval()
    x = torch.randn(2, 1, 16, 8)
    with torch.no_grad():
        _, _, found = model(x, intermediates={"tokens"})
    assert found.tokens is not None and found.layers is None and found.attention is None
    with pytest.raises(ValueError, match=r"unknown intermediates \['attn'\]"):
        model(x, intermediates={"attn"})


@pytest.mark.parametrize("training", [True, False], ids=["cpu-training", "evaluation"])
def test_without_intermediates_no_attention_probabilities_are_materialised(monkeypatch, training):
    """The fast paths (SDPA; the CPU training path) run in every layer, and no layer is
    handed a list for its probabilities, unless attention maps are asked for."""
    calls = {"fast": 0, "explicit": 0}
    sdpa, headwise = vit.F.scaled_dot_product_attention, vit.headwise_attention

    def fast(real):
        def wrapped(*args, **kwargs):
            calls["fast"] += 1
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(vit.F, "scaled_dot_product_attention", fast(sdpa))
    monkeypatch.setattr(vit, "headwise_attention", fast(headwise))
    model = _model(dropout=0.1).train(training)
    for block in model.transformer.layers:
        block[0].register_forward_pre_hook(
            lambda m, args: calls.update(explicit=calls["explicit"] + (args[3] is not None))
        )
    x = torch.randn(2, 1, 16, 8)
    model(x)
    model(x, intermediates={"tokens", "layers"})
    assert calls == {"fast": 4, "explicit": 0}
    _, _, found = model(x, intermediates={"attention"})
    assert calls == {"fast": 4, "explicit": 2}
    assert len(found.attention) == 2


def test_attention_maps_in_training_keep_the_same_dropout_draws():
    """Asking for attention maps changes the path, not the model's output or gradients."""
    model = _model(dropout=0.2).train()
    x = torch.randn(2, 1, 16, 8)
    torch.manual_seed(3)
    logits, _ = model(x)
    torch.manual_seed(3)
    again, _, found = model(x, intermediates={"attention"})
    torch.testing.assert_close(again, logits)
    assert len(found.attention) == 2


def test_a_distillation_token_is_the_second_token_everywhere():
    model = _model(distill_token=True).eval()
    shape = encoder_shape(model)
    assert (shape.tokens, shape.prefix, shape.grid, shape.depth, shape.heads) == (
        10,
        2,
        (1, 8),
        2,
        2,
    )
    with torch.no_grad():
        _, _, found = model(torch.randn(2, 1, 16, 8), intermediates=ALL)
    assert found.tokens.shape == (2, 10, 16)
    assert found.attention[0].shape == (2, 2, 10, 10)
    assert (
        encoder_shape(
            build_model(resolve_model({"preset": "cnn"}), 16, 8, 4, registry=get_registry())
        )
        is None
    )
