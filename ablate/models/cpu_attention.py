"""Attention with dropout for CPU training, one head at a time on strided views: no copies.

Batched attention needs each of q, k and v as ``(batch * heads, tokens, dim_head)``, which
the ``(batch, tokens, 3 * heads * dim_head)`` projection is not: the head split, the head
merge and their gradients copied about 15 million floats per student layer and step, the
largest share of the step outside the matrix products once the dropout masks were cheap.
Here every head's matrices are strided views of that projection, which the CPU's batched
matrix product reads in place; its products are written into the head's slice of the
output (or of the gradient) by the copy that the layout needs anyway, one head at a time
(a product written straight into a strided slice is split into one small product per
sample, which scales badly on two threads). The 1/sqrt(dim_head) scale rides in the
scores' product (``alpha``) and in the gradients' copies instead of passes over the scores.

Values match ``softmax(q k^T * scale + bias)`` with :func:`ablate.models.dropout.mask`'s
mask (the same random draws as the batched version), times v; where the scale is a power
of two (dim_head 4, 16, 64, 256, ...) bit for bit. The additive ``bias`` (a positional
encoding's ``attention_bias``, ``(heads or 1, n, n)``) is optional: without it the scores
are computed exactly as they were before it existed; with it, it is the product's
starting value, and its gradient is the scores' gradient summed over the batch (and the
heads, for one bias shared by all of them).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ablate.models.dropout import mask


class _HeadwiseAttention(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, qkv: torch.Tensor, heads: int, p: float, bias: torch.Tensor | None
    ) -> torch.Tensor:
        b, n, width = qkv.shape
        d = width // (3 * heads)
        parts = qkv.view(b, n, 3, heads, d)
        scale = d**-0.5
        keep = mask((b, heads, n, n), p, qkv.dtype)
        out = qkv.new_empty(b, n, heads * d)
        merged = out.view(b, n, heads, d)
        probs = []
        for h in range(heads):
            q, k, v = parts[:, :, 0, h], parts[:, :, 1, h], parts[:, :, 2, h]
            if bias is None:
                scores = torch.empty(b, n, n, dtype=qkv.dtype)
                scores.baddbmm_(q, k.transpose(1, 2), beta=0, alpha=scale)
            else:
                scores = torch.baddbmm(bias[h % len(bias)], q, k.transpose(1, 2), alpha=scale)
            probs.append(scores.softmax(-1))
            merged[:, :, h] = torch.bmm(probs[h] * keep[:, h], v)
        ctx.heads, ctx.scale = heads, scale
        ctx.bias_heads = None if bias is None else len(bias)
        ctx.save_for_backward(qkv, keep, *probs)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        qkv, keep, *probs = ctx.saved_tensors
        b, n, width = qkv.shape
        heads, scale = ctx.heads, ctx.scale
        d = width // (3 * heads)
        parts = qkv.view(b, n, 3, heads, d)
        grads = grad_out.contiguous().view(b, n, heads, d)
        grad_qkv = torch.empty_like(qkv)
        split = grad_qkv.view(b, n, 3, heads, d)
        grad_bias = None
        if ctx.needs_input_grad[3]:
            grad_bias = qkv.new_zeros(ctx.bias_heads, n, n)
        for h in range(heads):
            q, k, v = parts[:, :, 0, h], parts[:, :, 1, h], parts[:, :, 2, h]
            grad = grads[:, :, h]
            kept = probs[h] * keep[:, h]
            split[:, :, 2, h] = torch.bmm(kept.transpose(1, 2), grad)
            grad_probs = torch.bmm(grad, v.transpose(1, 2)).mul_(keep[:, h])
            grad_scores = torch._softmax_backward_data(grad_probs, probs[h], -1, qkv.dtype)
            if grad_bias is not None:
                grad_bias[h % ctx.bias_heads] += grad_scores.sum(0)
            torch.mul(torch.bmm(grad_scores, k), scale, out=split[:, :, 0, h])
            torch.mul(torch.bmm(grad_scores.transpose(1, 2), q), scale, out=split[:, :, 1, h])
        return grad_qkv, None, None, grad_bias


def headwise_attention(
    qkv: torch.Tensor, heads: int, p: float, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``(b, n, 3 * heads * d)`` projections -> ``(b, n, heads * d)``: dropout-``p`` attention,
    with ``bias`` ``(heads or 1, n, n)`` added to the scaled scores when given."""
    return _HeadwiseAttention.apply(qkv.contiguous(), heads, p, bias)
