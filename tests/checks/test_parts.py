"""Build-time contract checks: a part that breaks its contract fails when the model is
built, in one line naming the config key, the plugin, its package and both shapes."""

from __future__ import annotations

import pytest
import torch

from ablate.cli.main import main
from ablate.config import resolve_model
from ablate.errors import AblateError
from ablate.models.build import build_model, token_count
from ablate.plugins import get_registry

TINY = dict(dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64)

#: third-party parts, each breaking its contract in one of the ways the issue met
BAD_PARTS = """
import torch
from ablate import hookimpl
from ablate.contracts import ModelShape, Patching, PositionalEncoding, Stem


class Transposed(Patching):
    def forward(self, x):
        return super().forward(x).transpose(1, 2)


class Stale(Patching):
    '''Overlapping windows written before the base class took a stride: the grid is the
    base's, for windows that do not overlap.'''

    def __init__(self, shape, width: int = 4, stride: int = 2):
        super().__init__(shape, shape.height, width, pad=True)
        self.step = stride

    def forward(self, x):
        return x.unfold(3, self.pw, self.step).permute(0, 3, 2, 4, 1).flatten(2)


class Wide(Patching):
    def forward(self, x):
        tokens = super().forward(x)
        return torch.cat([tokens, tokens], dim=-1)


class DropsCls(PositionalEncoding):
    def __init__(self, shape):
        super().__init__()

    def tokens(self, t):
        return t[:, 1:]


class Undeclared(PositionalEncoding):
    '''Adds a channel without saying so in extra_channels.'''

    def __init__(self, shape):
        super().__init__()

    def image(self, x):
        return torch.cat([x, x[:, :1]], dim=1)


class Shrinks(Stem):
    def __init__(self, shape):
        super().__init__()
        self.out_channels = shape.channels

    def forward(self, x):
        return x[..., ::2]


class Recorder(Patching):
    seen = []

    def __init__(self, shape):
        Recorder.seen.append(shape)
        super().__init__(shape, shape.height, 1)


class Seen(PositionalEncoding):
    seen = []

    def __init__(self, shape):
        Seen.seen.append(shape)
        super().__init__()
        self.extra_channels = 2

    def image(self, x):
        return torch.cat([x, torch.zeros_like(x[:, :1]).repeat(1, 2, 1, 1)], dim=1)


@hookimpl
def register_patchings(register):
    register("transposed", lambda s: Transposed(s, s.height, 1), "vertical, transposed")
    register("stale", Stale, "overlapping windows, stale grid")
    register("wide", lambda s: Wide(s, s.height, 1), "twice the features it declares")
    register("recorder", Recorder, "vertical; records its ModelShape")


@hookimpl
def register_pos_encodings(register):
    register("drops_cls", DropsCls, "tokens() drops the CLS token")
    register("undeclared", Undeclared, "image() adds a channel it does not declare")
    register("seen", Seen, "two zero channels; records its ModelShape")


@hookimpl
def register_stems(register):
    register("shrinks", Shrinks, "halves the time axis")
"""


@pytest.fixture
def bad_parts(plugin_module):
    plugin_module("bad_parts", BAD_PARTS)


def _model_cli(capsys, *overrides: str) -> tuple[int, str, str]:
    try:
        main(["model", "--json", *overrides])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _build_error(**parts) -> str:
    """The one-line error of building a 32 x 16 student with ``parts``."""
    with pytest.raises(AblateError) as info:
        build_model(
            resolve_model(dict(TINY, preset="student", **parts)), 32, 16, 4, registry=get_registry()
        )
    return str(info.value)


def test_a_transposed_patching_output_is_caught_though_its_shape_looks_right(bad_parts, capsys):
    """128 x 128 vertical: N = patch_dim = 128, so (B, N, D) and its transpose agree;
    before, it trained silently with the same parameter count as `vertical`."""
    code, out, err = _model_cli(capsys, "model.patching=transposed", "model.depth=1")
    assert code == 2 and out == ""
    assert err == (
        "error: model.patching: patching 'transposed' (bad_parts) turned (2, 2, 128, 128) "
        "into (2, 256, 128); expected (2, 128, 256) (batch, num_patches, patch_dim as it "
        "declares; checked with one more channel, as with 1 its output looks like its "
        "transpose)\n"
    )


def test_a_stale_grid_is_caught_instead_of_a_wrong_token_count(bad_parts, capsys):
    """Before: `ablate model` reported tokens 33 for a model that makes 64, and with
    `learned` the error came from the built-in pos_encoding plugin."""
    code, _, err = _model_cli(capsys, "model.patching=stale", "model.pos_encoding=learned")
    assert code == 2
    assert err.startswith(
        "error: model.patching: patching 'stale' (bad_parts) turned (2, 1, 128, 128) into "
        "(2, 63, 512); expected (2, 32, 512) (batch, num_patches, patch_dim"
    )
    assert "ablate_plugins" not in err and err.count("\n") == 1


def test_a_tokens_that_drops_cls_is_caught(bad_parts):
    assert _build_error(pos_encoding="drops_cls") == (
        "model.pos_encoding: pos_encoding 'drops_cls' (bad_parts) turned (2, 17, 32) into "
        "(2, 16, 32); expected (2, 17, 32) (tokens() keeps the shape, CLS first)"
    )


def test_a_wrong_feature_size_names_the_plugin_not_layer_norm(bad_parts):
    assert _build_error(patching="wide").startswith(
        "model.patching: patching 'wide' (bad_parts) turned (2, 1, 32, 16) into (2, 16, 64); "
        "expected (2, 16, 32)"
    )


def test_undeclared_image_channels_and_a_resizing_stem_are_caught(bad_parts):
    assert _build_error(pos_encoding="undeclared").startswith(
        "model.pos_encoding: pos_encoding 'undeclared' (bad_parts) turned (2, 1, 32, 16) into "
        "(2, 2, 32, 16); expected (2, 1, 32, 16) (image() adds extra_channels = 0 channels)"
    )
    assert _build_error(stem="shrinks") == (
        "model.stem: stem 'shrinks' (bad_parts) turned (2, 1, 32, 16) into (2, 1, 32, 8); "
        "expected (2, 1, 32, 16) (batch, out_channels, height, width)"
    )


def test_the_teacher_s_parts_are_named_under_distill_teacher(bad_parts):
    spec = dict(TINY, preset="teacher", patching="wide", stem_args={"width": 0.25})
    with pytest.raises(AblateError, match=r"^distill\.teacher\.patching: patching 'wide'"):
        build_model(
            resolve_model(spec), 32, 16, 4, section="distill.teacher", registry=get_registry()
        )


def test_each_part_is_told_the_true_shape_it_receives(bad_parts):
    """Before: the patching was told 1 channel after coordinate-style encodings added 2."""
    from bad_parts import Recorder, Seen

    Recorder.seen.clear()
    Seen.seen.clear()
    spec = dict(TINY, preset="teacher", patching="recorder", pos_encoding="seen")
    model = build_model(
        resolve_model(dict(spec, stem_args={"width": 0.25})), 32, 16, 4, registry=get_registry()
    )
    assert Recorder.seen[-1].channels == 3  # the stem's 1 plus the encoding's 2
    assert model.patching.patch_dim == 3 * 32
    (shape,) = Seen.seen
    assert (shape.channels, shape.num_tokens, shape.grid) == (1, 17, (1, 16))


def test_the_dry_run_leaves_random_streams_and_training_mode_alone():
    torch.manual_seed(0)
    model = build_model(
        resolve_model(dict(TINY, preset="teacher", stem_args={"width": 0.25})),
        32,
        16,
        4,
        registry=get_registry(),
    )
    after_build = torch.rand(3)
    torch.manual_seed(0)
    build_model(
        resolve_model(dict(TINY, preset="teacher", stem_args={"width": 0.25})),
        32,
        16,
        4,
        registry=get_registry(),
    )
    assert torch.equal(torch.rand(3), after_build)
    assert all(m.training for m in model.modules())
    assert token_count(model) == 17


def test_the_built_ins_pass_their_own_checks_in_every_combination(capsys):
    """The dry run accepts what works: every built-in patching x encoding x stem."""
    registry = get_registry()
    for patching in registry.names("patching"):
        for pos in registry.names("pos_encoding"):
            for stem in registry.names("stem"):
                spec = dict(TINY, preset="student", patching=patching, pos_encoding=pos)
                spec.update(stem=stem, stem_args={"width": 0.25} if stem != "none" else {})
                spec["patching_args"] = {"size": 8} if patching == "square" else {}
                assert (
                    token_count(
                        build_model(resolve_model(spec), 32, 16, 4, registry=get_registry())
                    )
                    > 1
                )  # and its parts ran
    assert capsys.readouterr().err == ""
