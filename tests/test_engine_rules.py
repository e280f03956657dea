"""Rules of the engine's core that a refactor could quietly break: the registry is passed,
never fetched behind the caller's back; presets are resolved when a config is made; each
plugin is built once per model; one helper for each shared job."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ablate.config import resolve_model
from ablate.errors import AblateError
from ablate.models.build import build_model
from ablate.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {p: p.read_text() for p in (ROOT / "ablate").rglob("*.py")}
#: where a process starts: the commands and a worker process's entry
ENTRY_POINTS = {"cli", "parallel.py", "plugins.py", "testing.py"}


def _where(pattern: str) -> list[str]:
    return sorted(
        str(p.relative_to(ROOT)) for p, text in SOURCES.items() if re.search(pattern, text)
    )


def test_the_engine_never_falls_back_to_the_process_registry():
    """Before: five places did `registry or get_registry()` five levels down."""
    callers = [p for p in _where(r"get_registry\(\)") if not set(Path(p).parts) & ENTRY_POINTS]
    assert callers == []
    assert _where(r"registry: Registry \| None") == ["ablate/testing.py"]  # for plugin tests


def test_one_fsync_helper_one_interval_function_one_set_of_synthetic_defaults():
    assert _where(r"os\.fsync\(") == ["ablate/files.py"]
    assert _where(r"def t_interval\(") == ["ablate/intervals.py"]
    from ablate_plugins.datasets import Synthetic

    from ablate.data.synthetic import generate

    assert all(p.default is p.empty for p in inspect.signature(generate).parameters.values())
    assert get_registry().get("dataset", "synthetic").factory is Synthetic


def test_a_model_config_is_resolved_when_made_not_when_built():
    with pytest.raises(AblateError, match=r"^model: dim, heads, .* unset; resolve the preset"):
        build_model({"preset": "student"}, 32, 16, 4, get_registry())
    build_model(resolve_model({"preset": "student", "depth": 1}), 32, 16, 4, get_registry())


COUNTING = """
from ablate import hookimpl
from ablate.contracts import ModelShape, Patching, PositionalEncoding, Stem

BUILT = []


class CountedStem(Stem):
    def __init__(self, shape: ModelShape):
        super().__init__()
        BUILT.append("stem")
        self.out_channels = 1

    def forward(self, x):
        return x


def counted_patching(shape: ModelShape) -> Patching:
    BUILT.append("patching")
    return Patching(shape, shape.height, 1)


class CountedEncoding(PositionalEncoding):
    def __init__(self, shape: ModelShape, extra: int = 0):
        super().__init__()
        BUILT.append("pos_encoding")
        self.extra_channels = extra

    def image(self, x):
        return x if not self.extra_channels else x.repeat(1, 1 + self.extra_channels, 1, 1)


@hookimpl
def register_stems(register):
    register("counted", CountedStem, "counts")


@hookimpl
def register_patchings(register):
    register("counted", counted_patching, "counts")


@hookimpl
def register_pos_encodings(register):
    register("counted", CountedEncoding, "counts")
"""


def test_each_plugin_is_built_once_per_model(plugin_module):
    """Before: the patching was built two or three times for every model."""
    import sys

    plugin_module("counting", COUNTING)
    registry = get_registry()
    spec = {"preset": "student", "depth": 1, "dim": 16, "heads": 2, "dim_head": 8}
    parts = {"stem": "counted", "patching": "counted", "pos_encoding": "counted"}
    build_model(resolve_model({**spec, **parts}), 32, 16, 4, registry)
    built = sys.modules["counting"].BUILT
    assert sorted(built) == ["patching", "pos_encoding", "stem"]
    built.clear()
    extra = {**spec, **parts, "pos_encoding_args": {"extra": 2}}
    build_model(resolve_model(extra), 32, 16, 4, registry)
    # only an encoding that adds image channels makes the patching be built again for them
    assert sorted(built) == ["patching", "patching", "pos_encoding", "stem"]


def test_a_model_refuses_an_input_of_another_shape_than_it_was_built_for():
    import torch

    model = build_model(resolve_model({"preset": "student", "depth": 1}), 32, 16, 4, get_registry())
    model(torch.randn(2, 1, 32, 16))
    with pytest.raises(ValueError, match=r"input of shape \(2, 1, 32, 12\); the model was built"):
        model(torch.randn(2, 1, 32, 12))
