"""A ViT's parts built from the slot table, each checked by a dry forward on a small batch.

The parts are the rows of a model section's slots (:func:`ablate.slots.model_slots`), built
in table order (stem, patching, positional encoding), each once and each told the true
shape it receives; every part's contract has a step below that runs it and says what the
next part receives. The patching is built a second time only when the positional
encoding adds image channels (which change its ``patch_dim``).

A part that breaks its contract fails when the model is built, in one line naming the
config key, the plugin, its package, the expected and the actual shape: a patching whose
tokens are not ``(B, num_patches, patch_dim)`` as it declares (a stale ``grid``, a
transposed output, a wrong feature size), a positional encoding whose ``tokens`` drop the
CLS token or whose ``image`` adds other channels than ``extra_channels``, a stem that
changes the image size or its ``out_channels``. The dry run leaves the global random
streams and the parts' training mode as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ablate.contracts import ModelShape, Patching, PositionalEncoding, Stem
from ablate.errors import AblateError, first_line, origin
from ablate.registry import Registry
from ablate.slots import Slot, build_slot, describe, lookup, model_slots

#: examples in the dry-run batch
BATCH = 2


@dataclass
class Built:
    """The parts built so far (by kind), and what the next part receives."""

    shape: ModelShape
    image: torch.Tensor
    parts: dict[str, nn.Module] = dataclasses.field(default_factory=dict)
    tokens: torch.Tensor | None = None


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
    """Builds and runs one section's parts (``model`` or ``distill.teacher``) and names
    the culprit."""

    def __init__(self, model: Mapping[str, Any], section: str, registry: Registry):
        self.model, self.registry = model, registry
        self.slots = {slot.kind: slot for slot in model_slots(section)}
        self.inputs = torch.Generator().manual_seed(0)

    def build(self, slot: Slot, shape: ModelShape) -> Any:
        name, args = self.model[slot.field], self.model[f"{slot.field}_args"]
        return build_slot(slot.key, name, args, shape, self.registry)

    def label(self, slot: Slot) -> str:
        component = lookup(slot.key, self.model[slot.field], self.registry)
        return f"{slot.key}: {describe(component)}"

    def batch(self, *shape: int) -> torch.Tensor:
        return torch.randn(BATCH, *shape, generator=self.inputs)

    def run(
        self,
        slot: Slot,
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
                    f"{self.label(slot)} failed on a {_shape(x)} batch: "
                    f"{type(exc).__name__}: {first_line(exc)}"
                ) from exc
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            raise AblateError(
                f"{self.label(slot)} turned {_shape(x)} into {_shape(out)}; "
                f"expected {_shape(expected)} ({meaning})"
            )
        return out


def _grid(patching: Any) -> tuple[int, int] | None:
    grid = getattr(patching, "grid", None)
    if isinstance(grid, tuple) and len(grid) == 2 and all(isinstance(g, int) for g in grid):
        return grid
    return None


def _stem(check: _Checker, slot: Slot, stem: Any, built: Built) -> Built:
    shape, image = built.shape, built.image
    channels = stem.out_channels
    expected = (BATCH, channels, shape.height, shape.width)
    image = check.run(slot, stem, stem, image, expected, "batch, out_channels, height, width")
    return dataclasses.replace(
        built, image=image, shape=dataclasses.replace(shape, channels=channels)
    )


def _patching(check: _Checker, slot: Slot, patching: Any, built: Built) -> Built:
    tokens = _check_patching(check, slot, patching, built.image)
    model = check.model
    shape = dataclasses.replace(  # what the positional encoding is told
        built.shape,
        num_tokens=patching.num_patches + 1,
        grid=_grid(patching),
        heads=model["heads"],
        dim_head=model["dim_head"],
        prefix_tokens=1 + bool(model["distill_token"]),
    )
    return dataclasses.replace(built, shape=shape, tokens=tokens)


def _pos_encoding(check: _Checker, slot: Slot, pos: Any, built: Built) -> Built:
    shape, image = built.shape, built.image
    extra = pos.extra_channels
    expected = (BATCH, shape.channels + extra, shape.height, shape.width)
    meaning = f"image() adds extra_channels = {extra} channels"
    image = check.run(slot, pos, pos.image, image, expected, meaning)
    if extra:  # the patching sees the extra channels: built again for them
        patching_slot = check.slots["patching"]
        counted = built.parts["patching"].num_patches
        wider = ModelShape(shape.height, shape.width, shape.channels + extra, shape.dim)
        patching = check.build(patching_slot, wider)
        if patching.num_patches != counted:
            raise AblateError(
                f"{check.label(patching_slot)} declares {patching.num_patches} tokens for "
                f"{wider.channels} channels but {counted} for fewer: the token count must not "
                "depend on the channel count"
            )
        _check_patching(check, patching_slot, patching, image)
        built.parts["patching"] = patching
    tokens = shape.num_tokens
    check.run(
        slot,
        pos,
        pos.tokens,
        check.batch(tokens, shape.dim),
        (BATCH, tokens, shape.dim),
        "tokens() keeps the shape, CLS first",
    )
    _check_attention(check, slot, pos, shape)
    return dataclasses.replace(built, image=image)


def _pair(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pair = isinstance(out, tuple | list) and len(out) == 2
    if pair and all(isinstance(t, torch.Tensor) for t in out):
        return out
    raise TypeError(f"rotate(q, k) returned {_shape(out)}; expected a pair (q, k)")


def _check_attention(check: _Checker, slot: Slot, pos: Any, shape: ModelShape) -> None:
    """``rotate`` and ``attention_bias``, when the encoding has them, called as every
    attention layer calls them, on the tokens attention sees (the prefix tokens too)."""
    n, heads, d = shape.attention_tokens, shape.heads, shape.dim_head
    if pos.rotate is not None:
        q, k = check.batch(heads, n, d), check.batch(heads, n, d)
        for i, name in enumerate("qk"):

            def part(q: torch.Tensor, i: int = i) -> torch.Tensor:
                return _pair(pos.rotate(q, k))[i]

            meaning = f"rotate(q, k) returns {name} as it got it: batch, heads, tokens, dim_head"
            check.run(slot, pos, part, q, (BATCH, heads, n, d), meaning)
    if pos.attention_bias is None:
        return
    with _dry(pos):
        try:
            bias = pos.attention_bias(n)
        except Exception as exc:
            raise AblateError(
                f"{check.label(slot)} attention_bias({n}) failed: "
                f"{type(exc).__name__}: {first_line(exc)} (at {origin(exc)})"
            ) from exc
    shapes = {(heads, n, n), (1, n, n)}
    if bias is not None and not (
        isinstance(bias, torch.Tensor) and bias.is_floating_point() and bias.shape in shapes
    ):
        got = f"{bias.dtype} {_shape(bias)}" if isinstance(bias, torch.Tensor) else _shape(bias)
        raise AblateError(
            f"{check.label(slot)} attention_bias({n}) returned {got}; expected None "
            f"or floats ({heads} or 1, {n}, {n}) (heads, query tokens, key tokens)"
        )


#: each model contract's dry-run step: runs the built part, returns what the next receives
STEPS: dict[type, Callable[[_Checker, Slot, Any, Built], Built]] = {
    Stem: _stem,
    Patching: _patching,
    PositionalEncoding: _pos_encoding,
}


def build_parts(
    model: Mapping[str, Any], height: int, width: int, registry: Registry, section: str = "model"
) -> dict[str, nn.Module]:
    """The parts of a resolved ``model`` config by kind (``stem``, ``patching``,
    ``pos_encoding``), each told the true shape it receives and checked on a dry-run
    batch."""
    check = _Checker(model, section, registry)
    built = Built(ModelShape(height, width, 1, model["dim"]), check.batch(1, height, width))
    for slot in check.slots.values():
        part = check.build(slot, built.shape)
        built.parts[slot.kind] = part
        built = STEPS[slot.base](check, slot, part, built)
    return built.parts


def _check_patching(
    check: _Checker, slot: Slot, patching: Any, image: torch.Tensor
) -> torch.Tensor:
    meaning = "batch, num_patches, patch_dim as it declares"
    n, d = patching.num_patches, patching.patch_dim
    tokens = check.run(slot, patching, patching, image, (BATCH, n, d), meaning)
    if n != d or type(patching).forward is Patching.forward:
        return tokens
    # (B, N, D) and its transpose look alike when N == D: look again with one more
    # channel, which changes D but not N; a patching that cannot take it is not asked.
    channels, height, width = image.shape[1:]
    wider = torch.cat([image, image[:, :1]], dim=1)
    try:
        with torch.random.fork_rng(devices=[]):
            shape = ModelShape(height, width, channels + 1, check.model["dim"])
            other = check.build(slot, shape)
        with _dry(other):
            out = other(wider)
    except Exception:
        return tokens
    expected = (BATCH, other.num_patches, other.patch_dim)
    if isinstance(out, torch.Tensor) and tuple(out.shape) != expected:
        raise AblateError(
            f"{check.label(slot)} turned {_shape(wider)} into {_shape(out)}; expected "
            f"{_shape(expected)} ({meaning}; checked with one more channel, as with "
            f"{channels} its output looks like its transpose)"
        )
    return tokens
