"""A ViT's parts built through their slots, each checked by a dry forward on a small batch.

A part that breaks its contract fails when the model is built, in one line naming the
config key, the plugin, its package, the expected and the actual shape: a patching whose
tokens are not ``(B, num_patches, patch_dim)`` as it declares (a stale ``grid``, a
transposed output, a wrong feature size), a positional encoding whose ``tokens`` drop the
CLS token or whose ``image`` adds other channels than ``extra_channels``, a stem that
changes the image size or its ``out_channels``. The dry run leaves the global random
streams and the parts' training mode as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ablate.contracts import ModelShape, Patching, PositionalEncoding
from ablate.errors import AblateError, first_line
from ablate.plugins import Registry
from ablate.slots import build_slot, describe, lookup

#: examples in the dry-run batch
BATCH = 2


@dataclass
class Parts:
    stem: nn.Module
    pos: PositionalEncoding
    patching: Patching


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = tuple(value.shape)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return f"a {type(value).__name__}"


@contextmanager
def _dry(module: nn.Module) -> Iterator[None]:
    """Evaluation mode, no autograd, random streams restored, and one thread: torch's
    intra-op pool costs more than it saves on a batch this small (several times more
    when the machine is busy), as in feature extraction."""
    training, threads = module.training, torch.get_num_threads()
    module.eval()
    torch.set_num_threads(1)
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(threads)
        module.train(training)


class _Checker:
    """Runs one section's parts (``model`` or ``distill.teacher``) and names the culprit."""

    def __init__(self, model: Mapping[str, Any], section: str, registry: Registry):
        self.model, self.section, self.registry = model, section, registry
        self.dim = model["dim"]
        self.inputs = torch.Generator().manual_seed(0)

    def key(self, part: str) -> str:
        return f"{self.section}.{part}"

    def build(self, part: str, shape: ModelShape) -> Any:
        name, args = self.model[part], self.model[f"{part}_args"]
        return build_slot(self.key(part), name, args, shape, self.registry)

    def label(self, part: str) -> str:
        return (
            f"{self.key(part)}: {describe(lookup(self.key(part), self.model[part], self.registry))}"
        )

    def batch(self, *shape: int) -> torch.Tensor:
        return torch.randn(BATCH, *shape, generator=self.inputs)

    def run(
        self,
        part: str,
        module: nn.Module,
        call: Callable[[torch.Tensor], Any],
        x: torch.Tensor,
        expected: tuple[int, ...],
        meaning: str,
    ) -> torch.Tensor:
        """``call(x)``, which must return a tensor of shape ``expected``."""
        with _dry(module):
            try:
                out = call(x)
            except Exception as exc:
                raise AblateError(
                    f"{self.label(part)} failed on a {_shape(x)} batch: "
                    f"{type(exc).__name__}: {first_line(exc)}"
                ) from None
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            raise AblateError(
                f"{self.label(part)} turned {_shape(x)} into {_shape(out)}; "
                f"expected {_shape(expected)} ({meaning})"
            )
        return out


def _grid(patching: Any) -> tuple[int, int] | None:
    grid = getattr(patching, "grid", None)
    if isinstance(grid, tuple) and len(grid) == 2 and all(isinstance(g, int) for g in grid):
        return grid
    return None


def build_parts(
    model: Mapping[str, Any], height: int, width: int, registry: Registry, section: str = "model"
) -> Parts:
    """Stem, positional encoding and patching of a resolved ``model`` config, each told the
    true shape it receives and checked on a dry-run batch."""
    check = _Checker(model, section, registry)
    dim = check.dim
    stem = check.build("stem", ModelShape(height, width, 1, dim))
    channels = stem.out_channels
    image = check.run(
        "stem",
        stem,
        stem,
        check.batch(1, height, width),
        (BATCH, channels, height, width),
        "batch, out_channels, height, width",
    )
    # The encoding needs the token count and the patching the channel count after the
    # encoding's extra channels: a first patching, built without moving the random
    # streams, counts the tokens.
    with torch.random.fork_rng(devices=[]):
        counter = check.build("patching", ModelShape(height, width, channels, dim))
    tokens = counter.num_patches + 1
    heads, prefix = model["heads"], 1 + bool(model["distill_token"])
    pos_shape = ModelShape(
        height, width, channels, dim, tokens, _grid(counter), heads, model["dim_head"], prefix
    )
    pos = check.build("pos_encoding", pos_shape)
    extra = pos.extra_channels
    image = check.run(
        "pos_encoding",
        pos,
        pos.image,
        image,
        (BATCH, channels + extra, height, width),
        f"image() adds extra_channels = {extra} channels",
    )
    patching = check.build("patching", ModelShape(height, width, channels + extra, dim))
    _check_patching(check, patching, image, counter.num_patches)
    check.run(
        "pos_encoding",
        pos,
        pos.tokens,
        check.batch(tokens, dim),
        (BATCH, tokens, dim),
        "tokens() keeps the shape, CLS first",
    )
    _check_attention(check, pos, pos_shape)
    return Parts(stem, pos, patching)


def _pair(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pair = isinstance(out, tuple | list) and len(out) == 2
    if pair and all(isinstance(t, torch.Tensor) for t in out):
        return out
    raise TypeError(f"rotate(q, k) returned {_shape(out)}; expected a pair (q, k)")


def _check_attention(check: _Checker, pos: Any, shape: ModelShape) -> None:
    """``rotate`` and ``attention_bias``, when the encoding has them, called as every
    attention layer calls them, on the tokens attention sees (the prefix tokens too)."""
    n, heads, d = shape.attention_tokens, shape.heads, shape.dim_head
    if pos.rotate is not None:
        q, k = check.batch(heads, n, d), check.batch(heads, n, d)
        for i, name in enumerate("qk"):

            def part(q: torch.Tensor, i: int = i) -> torch.Tensor:
                return _pair(pos.rotate(q, k))[i]

            meaning = f"rotate(q, k) returns {name} as it got it: batch, heads, tokens, dim_head"
            check.run("pos_encoding", pos, part, q, (BATCH, heads, n, d), meaning)
    if pos.attention_bias is None:
        return
    with _dry(pos):
        try:
            bias = pos.attention_bias(n)
        except Exception as exc:
            raise AblateError(
                f"{check.label('pos_encoding')} attention_bias({n}) failed: "
                f"{type(exc).__name__}: {first_line(exc)}"
            ) from None
    shapes = {(heads, n, n), (1, n, n)}
    if bias is not None and not (
        isinstance(bias, torch.Tensor) and bias.is_floating_point() and bias.shape in shapes
    ):
        got = f"{bias.dtype} {_shape(bias)}" if isinstance(bias, torch.Tensor) else _shape(bias)
        raise AblateError(
            f"{check.label('pos_encoding')} attention_bias({n}) returned {got}; expected None "
            f"or floats ({heads} or 1, {n}, {n}) (heads, query tokens, key tokens)"
        )


def _check_patching(check: _Checker, patching: Any, image: torch.Tensor, counted: int) -> None:
    meaning = "batch, num_patches, patch_dim as it declares"
    channels, height, width = image.shape[1:]
    if patching.num_patches != counted:
        raise AblateError(
            f"{check.label('patching')} declares {patching.num_patches} tokens for "
            f"{channels} channels but {counted} for fewer: the token count must not depend "
            "on the channel count"
        )
    n, d = patching.num_patches, patching.patch_dim
    check.run("patching", patching, patching, image, (BATCH, n, d), meaning)
    if n != d:
        return
    # (B, N, D) and its transpose look alike when N == D: look again with one more
    # channel, which changes D but not N; a patching that cannot take it is not asked.
    wider = torch.cat([image, image[:, :1]], dim=1)
    try:
        with torch.random.fork_rng(devices=[]):
            other = check.build("patching", ModelShape(height, width, channels + 1, check.dim))
        with _dry(other):
            out = other(wider)
    except Exception:
        return
    expected = (BATCH, other.num_patches, other.patch_dim)
    if isinstance(out, torch.Tensor) and tuple(out.shape) != expected:
        raise AblateError(
            f"{check.label('patching')} turned {_shape(wider)} into {_shape(out)}; expected "
            f"{_shape(expected)} ({meaning}; checked with one more channel, as with "
            f"{channels} its output looks like its transpose)"
        )
