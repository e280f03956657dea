"""A small pre-norm Vision Transformer assembled from injected modules."""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
import torch.nn.functional as F
from torch import nn

from ablate.contracts import INTERMEDIATES, Intermediates, Patching, PositionalEncoding
from ablate.models.cpu_attention import headwise_attention
from ablate.models.dropout import Dropout, dropout

#: ``rotate(q, k) -> (q, k)`` on ``(B, heads, N, dim_head)``: a positional encoding's
Rotate = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(hidden, dim),
            Dropout(dropout),
        )


class Attention(nn.Module):
    """Multi-head self-attention: ``scaled_dot_product_attention``, except for training with
    dropout on the CPU, whose SDPA has no fused kernel with dropout: there one head at a time
    on strided views of the projection (:mod:`ablate.models.cpu_attention`), without copies.

    A positional encoding's ``rotate`` turns the queries and keys and its ``bias`` is added
    to the scaled scores on either path. Given a list ``probs``, the attention is computed
    explicitly and its probabilities appended (SDPA does not return them): only then.
    """

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dropout = heads, dropout
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), Dropout(dropout))

    def forward(
        self,
        x: torch.Tensor,
        rotate: Rotate | None = None,
        bias: torch.Tensor | None = None,
        probs: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.to_qkv(self.norm(x))
        p = self.dropout if self.training else 0.0
        headwise = p > 0 and x.device.type == "cpu" and probs is None
        if bias is not None:
            bias = bias.to(qkv.dtype)
        if headwise and rotate is None:
            return self.to_out(headwise_attention(qkv, self.heads, p, bias))
        q, k, v = qkv.reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if rotate is not None:
            q, k = rotate(q, k)
        if headwise:  # rotated: back into the projection's layout (a copy, as SDPA's inputs)
            qkv = torch.stack([q, k, v]).permute(1, 3, 0, 2, 4).reshape(b, n, -1)
            return self.to_out(headwise_attention(qkv, self.heads, p, bias))
        if probs is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)
        else:
            scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
            weights = (scores if bias is None else scores + bias).softmax(-1)
            probs.append(weights)
            out = dropout(weights, p, self.training) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for a whole example with
    probability ``p``, scaling the kept ones by ``1 / (1 - p)``; the identity in evaluation."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Transformer(nn.Module):
    """Pre-norm blocks; block ``i`` of ``depth`` drops its branches with probability
    ``drop_path * (i + 1) / depth`` (stochastic depth, linear rule)."""

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        dim_head: int,
        mlp_dim: int,
        dropout: float,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [Attention(dim, heads, dim_head, dropout), FeedForward(dim, mlp_dim, dropout)]
            )
            for _ in range(depth)
        )
        self.drops = nn.ModuleList(DropPath(drop_path * (i + 1) / depth) for i in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        rotate: Rotate | None = None,
        bias: torch.Tensor | None = None,
        layers: list[torch.Tensor] | None = None,
        attention: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Every block gets ``rotate`` and ``bias``; given lists, each block's output is
        appended to ``layers`` and its attention probabilities to ``attention``."""
        for (attn, ff), drop in zip(self.layers, self.drops, strict=True):
            x = x + drop(attn(x, rotate, bias, attention))
            x = x + drop(ff(x))
            if layers is not None:
                layers.append(x)
        return self.norm(x)


class SpectrogramViT(nn.Module):
    """stem -> image positions -> patches -> embedding -> CLS -> token positions -> encoder.

    ``forward`` returns ``(logits, pooled_feature)``; the pooled feature (the normalised
    CLS token) is what knowledge distillation matches.

    ``patch_norm=False`` drops the embedding's first LayerNorm, which rescales every raw
    patch (for 128x1 patches: every frame) to unit variance and so discards its energy.
    ``distill_token=True`` adds DeiT's distillation token after the CLS token (after the
    token positions, so every positional encoding applies unchanged) with its own head:
    in training ``forward`` returns both heads stacked, ``(B, 2, classes)`` and
    ``(B, 2, dim)`` (class token first), for the distillation losses to split; in
    evaluation the mean of the two heads' logits and the class token's feature.
    """

    def __init__(
        self,
        stem: nn.Module,
        pos: PositionalEncoding,
        patching: Patching,
        patch_dim: int,
        num_classes: int,
        dim: int,
        depth: int,
        heads: int,
        dim_head: int,
        mlp_dim: int,
        dropout: float = 0.0,
        emb_dropout: float = 0.0,
        drop_path: float = 0.0,
        patch_norm: bool = True,
        distill_token: bool = False,
        image_size: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.stem, self.pos, self.patching = stem, pos, patching
        #: (n_mels, frames) the parts were built for; other inputs are refused
        self.image_size = image_size
        first = nn.LayerNorm(patch_dim) if patch_norm else nn.Identity()
        self.embed = nn.Sequential(first, nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.dist_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if distill_token else None
        self.dropout = Dropout(emb_dropout)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout, drop_path)
        self.head = nn.Linear(dim, num_classes)
        self.dist_head = nn.Linear(dim, num_classes) if distill_token else None
        self.feature_dim = dim

    def forward(self, x: torch.Tensor, intermediates: Collection[str] = ()) -> tuple:
        if self.image_size is not None and (
            x.ndim != 4 or tuple(x.shape[1:]) != (1, *self.image_size)
        ):
            raise ValueError(
                f"input of shape {tuple(x.shape)}; the model was built for (batch, 1, "
                f"{self.image_size[0]}, {self.image_size[1]})"
            )
        x = self.pos.image(self.stem(x))
        tokens = self.embed(self.patching(x))
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = self.pos.tokens(torch.cat([cls, tokens], dim=1))
        if self.dist_token is not None:
            dist = self.dist_token.expand(tokens.shape[0], -1, -1)
            tokens = torch.cat([tokens[:, :1], dist, tokens[:, 1:]], dim=1)
        bias = self.pos.attention_bias
        if bias is not None:
            bias = bias(tokens.shape[1])
        if not intermediates:
            encoded = self.transformer(self.dropout(tokens), self.pos.rotate, bias)
            return self._heads(encoded)
        unknown = set(intermediates) - INTERMEDIATES
        if unknown:
            raise ValueError(
                f"unknown intermediates {sorted(unknown)}; known: {sorted(INTERMEDIATES)}"
            )
        layers = [] if "layers" in intermediates else None
        attention = [] if "attention" in intermediates else None
        encoded = self.transformer(self.dropout(tokens), self.pos.rotate, bias, layers, attention)
        logits, feature = self._heads(encoded)
        tokens = encoded if "tokens" in intermediates else None
        return logits, feature, Intermediates(feature, logits, tokens, layers, attention)

    def _heads(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = encoded[:, 0]
        logits = self.head(pooled)
        if self.dist_head is None:
            return logits, pooled
        dist_logits = self.dist_head(encoded[:, 1])
        if self.training:
            return torch.stack([logits, dist_logits], 1), encoded[:, :2]
        return (logits + dist_logits) / 2, pooled
