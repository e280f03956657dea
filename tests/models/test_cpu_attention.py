"""CPU training attention (ablate/models/cpu_attention.py): the same values and gradients as
batched dropout attention with the same mask, without copying q, k, v or the output."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import profile

from ablate.models import vit
from ablate.models.cpu_attention import headwise_attention
from ablate.models.dropout import mask


def _batched(qkv: torch.Tensor, heads: int, p: float, seed: int) -> torch.Tensor:
    """The textbook formula, all heads at once, with the mask drawn from ``seed``."""
    b, n, _ = qkv.shape
    q, k, v = qkv.reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    torch.manual_seed(seed)
    keep = mask((b, heads, n, n), p, qkv.dtype)
    weights = (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1)
    return ((weights * keep) @ v).transpose(1, 2).reshape(b, n, -1)


def _headwise(qkv: torch.Tensor, heads: int, p: float, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return headwise_attention(qkv, heads, p)


@pytest.mark.parametrize(("heads", "dim_head"), [(5, 64), (3, 5)])
def test_values_and_gradients_match_batched_attention_with_the_same_mask(heads, dim_head):
    torch.manual_seed(0)
    qkv = torch.randn(4, 33, 3 * heads * dim_head, requires_grad=True)
    grad = torch.randn(4, 33, heads * dim_head)
    expected = _batched(qkv, heads, 0.3, seed=7)
    (expected_grad,) = torch.autograd.grad(expected, qkv, grad)
    got = _headwise(qkv, heads, 0.3, seed=7)
    (got_grad,) = torch.autograd.grad(got, qkv, grad)
    if dim_head == 64:  # a power-of-two scale: the same arithmetic, bit for bit
        assert torch.equal(got, expected) and torch.equal(got_grad, expected_grad)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_grad, expected_grad)


def test_gradients_pass_gradcheck_in_double_precision():
    torch.manual_seed(0)
    qkv = torch.randn(2, 6, 3 * 2 * 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _headwise(t, 2, 0.25, seed=3), (qkv,))


def test_training_on_the_cpu_copies_each_head_once_at_most():
    """The batched path copied q, k, v, the merged heads and their gradients (tensors whose
    last dimension is dim_head, about 15 x the output's size); this one writes each head's
    output and value gradient into place once, and copies nothing else of that shape."""
    b, n, heads, dim_head = 3, 10, 4, 8
    attention = vit.Attention(dim=32, heads=heads, dim_head=dim_head, dropout=0.2).train()
    x = torch.randn(b, n, 32, requires_grad=True)
    with profile(record_shapes=True) as prof:
        attention(x).backward(torch.randn(b, n, 32))
    copies = [e.input_shapes[0] for e in prof.events() if e.name in ("aten::copy_", "aten::clone")]
    assert [b, heads, n, n] in copies  # the mask's draws, int16 to float: the profile works
    copied = sum(math.prod(shape) for shape in copies if shape[-1:] == [dim_head])
    assert copied == 2 * b * n * heads * dim_head  # the output, and the values' gradient


@pytest.mark.parametrize(("training", "dropout_p"), [(True, 0.1), (False, 0.0)])
def test_other_devices_use_sdpa_with_the_attention_dropout(monkeypatch, training, dropout_p):
    """A CUDA tensor takes the fused kernel; it must get the model's dropout when training,
    and a positional encoding's bias as its mask (meta tensors stand in for CUDA here: any
    device but the CPU takes this path)."""
    calls = []

    def sdpa(q, k, v, **kwargs):
        calls.append(kwargs)
        return q

    monkeypatch.setattr(F, "scaled_dot_product_attention", sdpa)
    attention = vit.Attention(dim=8, heads=2, dim_head=4, dropout=0.1).to("meta")
    attention.train(training)
    attention(torch.empty(2, 5, 8, device="meta"))
    bias = torch.empty(2, 5, 5, device="meta")
    attention(torch.empty(2, 5, 8, device="meta"), bias=bias)
    assert calls == [
        {"attn_mask": None, "dropout_p": dropout_p},
        {"attn_mask": bias, "dropout_p": dropout_p},
    ]


# --- an additive bias on the scores (a positional encoding's attention_bias) ------------


def _biased_reference(qkv, heads, p, seed, bias):
    """The textbook formula with the bias added to the scaled scores."""
    b, n, _ = qkv.shape
    q, k, v = qkv.reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    torch.manual_seed(seed)
    keep = mask((b, heads, n, n), p, qkv.dtype)
    weights = (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5 + bias).softmax(-1)
    return ((weights * keep) @ v).transpose(1, 2).reshape(b, n, -1)


@pytest.mark.parametrize("bias_heads", [3, 1], ids=["per-head", "shared"])
def test_a_bias_enters_the_scores_with_the_right_values_and_gradients(bias_heads):
    torch.manual_seed(0)
    heads, dim_head = 3, 8
    qkv = torch.randn(2, 9, 3 * heads * dim_head, requires_grad=True)
    bias = torch.randn(bias_heads, 9, 9, requires_grad=True)
    grad = torch.randn(2, 9, heads * dim_head)
    expected = _biased_reference(qkv, heads, 0.2, 5, bias)
    expected_grads = torch.autograd.grad(expected, (qkv, bias), grad)
    torch.manual_seed(5)
    got = headwise_attention(qkv, heads, 0.2, bias)
    got_grads = torch.autograd.grad(got, (qkv, bias), grad)
    torch.testing.assert_close(got, expected)
    for mine, theirs in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(mine, theirs)
    torch.manual_seed(5)
    assert not torch.allclose(headwise_attention(qkv, heads, 0.2), got)  # the bias counts


@pytest.mark.parametrize("bias_heads", [2, 1], ids=["per-head", "shared"])
def test_bias_gradients_pass_gradcheck_in_double_precision(bias_heads):
    torch.manual_seed(0)
    qkv = torch.randn(2, 3, 3 * 2 * 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(bias_heads, 3, 3, dtype=torch.float64, requires_grad=True)

    def attend(t, b):
        torch.manual_seed(3)
        return headwise_attention(t, 2, 0.25, b)

    assert torch.autograd.gradcheck(attend, (qkv, bias))


def test_without_dropout_the_biased_cpu_path_matches_sdpa_with_the_bias_as_its_mask():
    torch.manual_seed(0)
    heads, n = 4, 11
    qkv = torch.randn(3, n, 3 * heads * 16)
    bias = torch.randn(heads, n, n)
    q, k, v = qkv.reshape(3, n, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    sdpa = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    expected = sdpa.transpose(1, 2).reshape(3, n, -1)
    torch.testing.assert_close(headwise_attention(qkv, heads, 0.0, bias), expected)
