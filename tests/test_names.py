"""Names and provenance: a name two packages register is an error where it is used, naming
both; ``package:name`` picks one; every command and trial says which package and version
built each component."""

from __future__ import annotations

import json

import pytest

from ablate.cli.main import main
from ablate.config import make_config
from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.slots import used

DSCONV = """
from torch import nn

from ablate import hookimpl
from ablate.contracts import ModelShape, Stem


class DSConv(Stem):
    def __init__(self, shape: ModelShape, width: int = {width}):
        super().__init__()
        self.out_channels = width
        self.net = nn.Conv2d(shape.channels, width, 3, padding=1)

    def forward(self, x):
        return self.net(x)


@hookimpl
def register_stems(register):
    register("dsconv", DSConv, "a depthwise-separable stem")
"""


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def two_dsconvs(plugin_module):
    plugin_module("dsconv_a", DSCONV.format(width=4))
    plugin_module("dsconv_b", DSCONV.format(width=6))


def test_two_packages_registering_one_name_make_ablate_model_fail_naming_both(two_dsconvs, capsys):
    """Before: alphabetical order chose silently and `ablate model` exited 0."""
    code, out, err = _cli(capsys, "model", "model.stem=dsconv", "model.depth=1")
    assert code == 2 and out == ""
    assert err == (
        "error: model.stem: stem 'dsconv' is registered by dsconv_a unknown and dsconv_b "
        "unknown; choose dsconv_a:dsconv or dsconv_b:dsconv\n"
    )


def test_package_colon_name_picks_one_and_the_model_says_which(two_dsconvs, capsys):
    code, out, _ = _cli(capsys, "model", "model.stem=dsconv_b:dsconv", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["plugins"]["model.stem"] == {
        "name": "dsconv",
        "package": "dsconv_b",
        "version": "unknown",
        "args": {"width": 6},
    }
    assert info["plugins"]["model.patching"]["package"] == "ablate"


def test_a_study_using_the_shared_name_stops_before_any_trial(two_dsconvs, tmp_path):
    from ablate.studies.spec import load_study

    study = tmp_path / "s.yaml"
    study.write_text("name: s\nspace:\n  model.stem: {choice: [none, dsconv]}\n")
    with pytest.raises(AblateError, match=r"registered by dsconv_a unknown and dsconv_b"):
        load_study(study, get_registry())
    study.write_text("name: s\nspace:\n  model.stem: {choice: [none, dsconv_a:dsconv]}\n")
    assert load_study(study, get_registry()).space.dims[0].choices == ("none", "dsconv_a:dsconv")


def test_used_plugins_carry_package_version_and_resolved_defaults():
    config = make_config(dotlist=["model.patching=square", "data.augment=[mixup]"])
    found = {u.where: u for u in used(config, get_registry())}
    assert set(found) == {
        "data.dataset",
        "data.augment.mixup",
        "model.stem",
        "model.patching",
        "model.pos_encoding",
    }  # the distillation slots are left out while distillation is off
    square = found["model.patching"]
    assert square.source.startswith("square (ablate ")
    assert square.params == {"model.patching_args.size": 16, "model.patching_args.pad": False}
    assert "data.augment_args.mixup.alpha" in found["data.augment.mixup"].params


def test_the_study_key_changes_with_a_third_party_plugin_s_version(tmp_path, plugin_module):
    """ablate's own built-ins stay out of the key, so studies resume across its versions."""
    import sys

    from ablate.studies.spec import load_study, study_key

    plugin_module("dsconv_a", DSCONV.format(width=4) + "\n__version__ = '1.0'\n")
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nspace:\n  model.stem: {choice: [none, dsconv]}\n")
    first = load_study(study, get_registry()).key
    plugin_module("dsconv_a", DSCONV.format(width=4) + "\n__version__ = '1.1'\n")
    sys.modules.pop("dsconv_a", None)
    get_registry.cache_clear()
    second = load_study(study, get_registry()).key
    assert first != second
    study.write_text("name: s\nspace:\n  model.stem: {choice: [none, conv]}\n")
    loaded = load_study(study, get_registry())
    raw = {"model.stem": {"choice": ["none", "conv"]}}
    assert loaded.key == study_key("s", loaded.base, raw, loaded.settings)  # as before


def test_unknown_name_says_which_plugins_failed_to_load(plugin_module, capsys):
    plugin_module("broken_stem", "raise RuntimeError('no torch here')\n")
    code, _, err = _cli(capsys, "model", "model.stem=dsconv")
    assert code == 2
    assert "unknown stem 'dsconv'; known: conv, none, residual_conv" in err
    assert "plugins that failed to load (see ablate plugins): 'broken_stem' (broken_stem)" in err


def test_plugins_strict_fails_on_a_load_failure(plugin_module, capsys):
    code, out, err = _cli(capsys, "plugins", "--strict")
    assert code == 0
    plugin_module("broken_stem", "raise RuntimeError('boom')\n")
    code, out, err = _cli(capsys, "plugins", "--strict")
    assert code == 2
    assert "failed: plugin 'broken_stem'" in err
    assert err.strip().endswith("error: --strict: 1 plugin(s) failed to load (listed above)")
    code, out, _ = _cli(capsys, "plugins", "--json")
    assert code == 0  # without --strict the listing still succeeds
    assert all("version" in row for row in json.loads(out))
