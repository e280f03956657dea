"""Attention in the positional-encoding contract: ``rotate(q, k)`` and ``attention_bias(n)``
reach every attention layer on every path (SDPA, the CPU training path, the explicit path
that returns probabilities), match the textbook formula, and are checked at build time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ablate.config import resolve_model
from ablate.contracts import PositionalEncoding
from ablate.errors import AblateError
from ablate.models import vit
from ablate.models.build import build_model
from ablate.models.dropout import mask
from ablate.plugins import get_registry

HEADS, DIM_HEAD, N = 2, 4, 6
TINY = dict(preset="student", dim=16, depth=3, heads=2, dim_head=8, mlp_dim=32)


def turn(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A rotation of each feature pair (i, i + d/2) by an angle growing with the token."""
    angles = torch.arange(q.shape[-2], dtype=q.dtype)[:, None] * torch.tensor([0.3, 1.1])
    cos, sin = angles.cos().repeat(1, 2), angles.sin().repeat(1, 2)

    def rotated(x):
        first, second = x.chunk(2, -1)
        return x * cos + torch.cat([-second, first], -1) * sin

    return rotated(q), rotated(k)


def reference(attention, x, rotate, bias, keep=None):
    """The textbook formula: rotated queries and keys, the bias added to the scaled
    scores, the dropout mask ``keep`` on the probabilities."""
    b, n, _ = x.shape
    qkv = attention.to_qkv(attention.norm(x))
    q, k, v = qkv.reshape(b, n, 3, HEADS, -1).permute(2, 0, 3, 1, 4).unbind(0)
    if rotate is not None:
        q, k = rotate(q, k)
    scores = q @ k.transpose(-2, -1) * DIM_HEAD**-0.5
    weights = (scores if bias is None else scores + bias).softmax(-1)
    if keep is not None:
        weights = weights * keep
    return attention.to_out((weights @ v).transpose(1, 2).reshape(b, n, -1))


#: path -> (dropout, training, ask for probabilities)
PATHS = {
    "sdpa-eval": (0.2, False, False),
    "sdpa-train": (0.0, True, False),
    "cpu-train": (0.2, True, False),
    "explicit-train": (0.2, True, True),
    "explicit-eval": (0.2, False, True),
}


def _run(path, attention, x, rotate, bias, seed=7):
    _, training, probs = PATHS[path]
    attention.train(training)
    torch.manual_seed(seed)
    return attention(x, rotate, bias, [] if probs else None)


def _expected(path, attention, x, rotate, bias, seed=7):
    p, training, _ = PATHS[path]
    torch.manual_seed(seed)
    keep = mask((x.shape[0], HEADS, N, N), p) if training and p > 0 else None
    return reference(attention, x, rotate, bias, keep)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("parts", ["rotate", "bias", "both"])
def test_rotation_and_bias_match_the_textbook_formula_on_every_path(path, parts):
    torch.manual_seed(0)
    attention = vit.Attention(dim=8, heads=HEADS, dim_head=DIM_HEAD, dropout=PATHS[path][0])
    x = torch.randn(3, N, 8, requires_grad=True)
    rotate = turn if parts != "bias" else None
    bias = torch.randn(HEADS, N, N) if parts != "rotate" else None
    got = _run(path, attention, x, rotate, bias)
    expected = _expected(path, attention, x, rotate, bias)
    torch.testing.assert_close(got, expected)
    grad = torch.randn_like(got)
    (got_grad,) = torch.autograd.grad(got, x, grad)
    (expected_grad,) = torch.autograd.grad(expected, x, grad)
    torch.testing.assert_close(got_grad, expected_grad)
    plain = _run(path, attention, x, None, None)
    assert not torch.allclose(got, plain, atol=1e-4)  # the encoding changes the output


class Counting(PositionalEncoding):
    """Counts the engine's calls; a rotation and a bias that change the scores."""

    def __init__(self, heads: int):
        super().__init__()
        self.calls = {"rotate": 0, "attention_bias": 0}
        self.heads = heads

    def rotate(self, q, k):
        self.calls["rotate"] += 1
        return q * 1.5, k.flip(-2)

    def attention_bias(self, n_tokens):
        self.calls["attention_bias"] += 1
        return -torch.arange(n_tokens, dtype=torch.float32).expand(self.heads, n_tokens, -1)


@pytest.mark.parametrize(("dropout", "training"), [(0.1, True), (0.0, True), (0.1, False)])
def test_every_layer_is_rotated_and_biased_in_training_and_evaluation(dropout, training):
    torch.manual_seed(0)
    model = build_model(
        resolve_model(dict(TINY, dropout=dropout, emb_dropout=0.0)),
        16,
        8,
        4,
        registry=get_registry(),
    ).train(training)
    x = torch.randn(2, 1, 16, 8)
    torch.manual_seed(1)
    plain, _ = model(x)
    model.pos = Counting(heads=2)
    torch.manual_seed(1)
    encoded, _ = model(x)
    assert model.pos.calls == {"rotate": 3, "attention_bias": 1}  # depth 3, one bias
    assert not torch.allclose(plain, encoded)


def test_an_encoding_without_either_leaves_attention_as_it_was(monkeypatch):
    """No rotation, no bias: SDPA gets no mask, the CPU path no bias, nothing else runs."""
    seen = []
    real = vit.headwise_attention
    monkeypatch.setattr(vit, "headwise_attention", lambda *a: seen.append(a[3:]) or real(*a))
    model = build_model(
        resolve_model(dict(TINY, dropout=0.1)), 16, 8, 4, registry=get_registry()
    ).train()
    model(torch.randn(2, 1, 16, 8))
    assert seen == [(None,)] * 3


# --- build-time checks of a plugin's rotate and attention_bias -------------------------

BAD_ATTENTION = """
import torch
from ablate import hookimpl
from ablate.contracts import PositionalEncoding


class Base(PositionalEncoding):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape


class DropsDim(Base):
    def rotate(self, q, k):
        return q[..., :-1], k


class Single(Base):
    def rotate(self, q, k):
        return q


class SkipsCls(Base):
    def attention_bias(self, n_tokens):
        return torch.zeros(self.shape.heads, n_tokens - 1, n_tokens - 1)


class Boolean(Base):
    def attention_bias(self, n_tokens):
        return torch.ones(1, n_tokens, n_tokens, dtype=torch.bool)


class NotCallable(Base):
    rotate = 3


@hookimpl
def register_pos_encodings(register):
    register("drops_dim", DropsDim, "rotate() drops a feature of q")
    register("single", Single, "rotate() returns q alone")
    register("skips_cls", SkipsCls, "a bias without the CLS row and column")
    register("boolean", Boolean, "a boolean mask, not an additive bias")
    register("not_callable", NotCallable, "rotate is a number")
"""


@pytest.fixture
def bad_attention(plugin_module):
    plugin_module("bad_attention", BAD_ATTENTION)


def _build_error(pos: str, **extra) -> str:
    with pytest.raises(AblateError) as info:
        build_model(
            resolve_model(dict(TINY, depth=1, pos_encoding=pos, **extra)),
            16,
            8,
            4,
            registry=get_registry(),
        )
    return str(info.value)


def test_a_rotation_or_bias_of_the_wrong_shape_is_one_line_naming_the_plugin(bad_attention):
    assert _build_error("drops_dim") == (
        "model.pos_encoding: pos_encoding 'drops_dim' (bad_attention) turned (2, 2, 9, 8) into "
        "(2, 2, 9, 7); expected (2, 2, 9, 8) (rotate(q, k) returns q as it got it: batch, "
        "heads, tokens, dim_head)"
    )
    assert _build_error("single") == (
        "model.pos_encoding: pos_encoding 'single' (bad_attention) failed on a (2, 2, 9, 8) "
        "batch: TypeError: rotate(q, k) returned (2, 2, 9, 8); expected a pair (q, k)"
    )
    assert _build_error("skips_cls", distill_token=True) == (
        "model.pos_encoding: pos_encoding 'skips_cls' (bad_attention) attention_bias(10) "
        "returned torch.float32 (2, 9, 9); expected None or floats (2 or 1, 10, 10) (heads, "
        "query tokens, key tokens)"
    )
    assert _build_error("boolean").startswith(
        "model.pos_encoding: pos_encoding 'boolean' (bad_attention) attention_bias(9) "
        "returned torch.bool (1, 9, 9); expected None or floats"
    )
    assert _build_error("not_callable") == (
        "model.pos_encoding: pos_encoding 'not_callable' (bad_attention) declares rotate = 3; "
        "expected a method or None"
    )


def test_sdpa_takes_the_bias_as_a_float_mask_in_the_query_s_dtype(monkeypatch):
    """Under bf16 autocast q is bf16; a float32 bias is cast to it for SDPA."""
    seen = []
    monkeypatch.setattr(
        F, "scaled_dot_product_attention", lambda q, k, v, **kw: seen.append(kw) or q
    )
    attention = vit.Attention(dim=8, heads=HEADS, dim_head=DIM_HEAD, dropout=0.0).eval()
    attention.to(torch.bfloat16)
    attention(torch.randn(1, N, 8, dtype=torch.bfloat16), bias=torch.randn(HEADS, N, N))
    assert seen[0]["attn_mask"].dtype == torch.bfloat16
