"""Config errors a user sees: one line, naming the key."""

from __future__ import annotations

import pytest

from ablate.config import make_config
from ablate.errors import AblateError
from ablate.plugins import get_registry


def test_public_model_and_data_keys():
    config = make_config(
        dotlist=[
            "model.preset=teacher",
            "model.patching=square",
            "model.pos_encoding=learned",
            "model.stem=none",
            "data.n_mels=64",
            "data.frames=96",
        ]
    )
    assert (config.model.preset, config.model.patching) == ("teacher", "square")
    assert (config.model.pos_encoding, config.model.stem) == ("learned", "none")
    assert (config.data.n_mels, config.data.frames) == (64, 96)


def test_plugin_args_take_typed_values():
    config = make_config(dotlist=["model.patching_args.pad=true", "model.stem_args.width=0.5"])
    assert config.model.patching_args == {"pad": True}
    assert config.model.stem_args == {"width": 0.5}


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("model.patchin=square", "model.patchin"),
        ("data.n_mel=64", "data.n_mel"),
        ("nothing.here=1", "nothing"),
        ("data.n_mels=many", "data.n_mels"),
        ("model.depth=2.5", "model.depth"),
    ],
)
def test_unknown_key_or_wrong_type_is_one_line_naming_the_key(item, key):
    with pytest.raises(AblateError) as info:
        make_config(dotlist=[item])
    message = str(info.value)
    assert "\n" not in message
    assert key in message


def test_an_override_without_equals_sign():
    with pytest.raises(AblateError, match=r"override 'model\.depth': expected KEY=VALUE"):
        make_config(dotlist=["model.depth"])


def test_check_args_names_the_key_and_lists_the_valid_parameters():
    conv = get_registry().get("stem", "conv")
    with pytest.raises(AblateError) as info:
        conv.check_args({"widht": 2.0}, "model.stem_args")
    assert str(info.value) == (
        "model.stem_args.widht: stem 'conv' has no parameter 'widht' "
        "(its parameters: width, blocks)"
    )
    with pytest.raises(AblateError, match=r"\(its parameters: none\)"):
        get_registry().get("stem", "none").check_args({"x": 1}, "model.stem_args")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"blocks": 2.0}, "model.stem_args.blocks: expected int, got 2.0"),
        ({"blocks": True}, "model.stem_args.blocks: expected int, got True"),
        ({"width": "1"}, "model.stem_args.width: expected float, got '1'"),
    ],
)
def test_check_args_type_errors(args, message):
    with pytest.raises(AblateError) as info:
        get_registry().get("stem", "conv").check_args(args, "model.stem_args")
    assert str(info.value) == message


def test_check_args_accepts_and_widens():
    checked = get_registry().get("stem", "conv").check_args({"width": 2, "blocks": 4}, "w")
    assert checked == {"width": 2.0, "blocks": 4}
    assert isinstance(checked["width"], float)
