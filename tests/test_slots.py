"""The slot table: one place that knows every plugin slot, and one way to build a plugin."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import ClassVar

import pytest
from omegaconf import OmegaConf

from ablate import contracts, hookimpl, hookspecs
from ablate.config import Config, make_config
from ablate.errors import AblateError
from ablate.plugins import get_registry, load_registry
from ablate.slots import SLOTS, Slot, build_slot
from ablate.studies.space import parse_space

SCHEMA = OmegaConf.structured(Config)


@pytest.mark.parametrize("key", list(SLOTS))
def test_every_slot_and_its_arguments_are_config_keys(key):
    slot = SLOTS[key]
    assert OmegaConf.select(SCHEMA, slot.args_key) is not None
    assert slot.field in OmegaConf.select(SCHEMA, slot.section)
    assert slot.hook in dir(hookspecs)


def test_the_built_ins_subclass_the_contracts_in_ablate():
    from ablate_plugins import augment, datasets, distill_loss, patching, pos_encoding, stem

    assert issubclass(datasets.EmoDB, contracts.DatasetAdapter)
    assert issubclass(distill_loss.FeatureL1, contracts.DistillLoss)
    assert issubclass(pos_encoding.Coordinate, contracts.PositionalEncoding)
    assert issubclass(stem.ConvStem, contracts.Stem)
    assert all(
        issubclass(a, contracts.Augment)
        for a in (augment.Noise, augment.SpecAugment, augment.Mixup)
    )
    assert patching.Patching is contracts.Patching  # the base the built-in factories instantiate


BROKEN = """
from ablate import hookimpl


class Grumpy:
    def __init__(self, context, mood: str = "bad"):
        raise {error}


@hookimpl
def {hook}(register):
    register("grumpy", Grumpy, "raises in its constructor")
"""


@pytest.mark.parametrize(
    ("key", "error", "context"),
    [
        ("data.dataset", "ValueError('no corpus here')", None),
        ("data.augment", "TypeError('a bug')", None),
        ("distill.loss", "AttributeError('oops')", None),
        ("model.stem", "RuntimeError('boom')", None),
    ],
)
def test_any_plugin_error_is_one_line_naming_key_plugin_and_package(
    plugin_module, key, error, context
):
    """Before, only model parts turned a ValueError into a one-line error; a dataset's,
    augmentation's or loss's exception surfaced as a traceback."""
    slot = SLOTS[key]
    plugin_module(f"grumpy_{slot.kind}", BROKEN.format(error=error, hook=slot.hook))
    with pytest.raises(AblateError) as info:
        build_slot(key, "grumpy", {"mood": "worse"}, context, registry=get_registry())
    kind, message = slot.kind, error.split("(")[1].strip("')")
    prefix = f"{slot.args_where('grumpy')}: {kind} 'grumpy' (grumpy_{kind}): "
    expected = message if error.startswith("ValueError") else f"{error.split('(')[0]}: {message}"
    if error.startswith("ValueError"):  # a message written for the user
        assert str(info.value) == prefix + expected
    else:  # a bug: named by its type and the plugin's own line
        assert str(info.value).startswith(f"{prefix}{expected} (at ")
        assert str(info.value).endswith(f"grumpy_{kind}.py:7)")


def test_the_data_pipeline_builds_datasets_and_augments_through_the_slots(plugin_module):
    from ablate.data.augment import build_augments
    from ablate.data.pipeline import scan

    plugin_module(
        "grumpy_dataset", BROKEN.format(error="ValueError('x')", hook="register_datasets")
    )
    with pytest.raises(AblateError, match=r"^data\.dataset: dataset 'grumpy' \("):
        scan(make_config(dotlist=["data.dataset=grumpy"]).data, get_registry())
    plugin_module("grumpy_augment", BROKEN.format(error="KeyError(1)", hook="register_augments"))
    data = make_config(dotlist=["data.augment=[grumpy]"]).data
    with pytest.raises(AblateError, match=r"^data\.augment: augment 'grumpy' \("):
        build_augments(data, "wave", get_registry())


def test_a_built_object_that_breaks_its_contract_is_one_line(plugin_module):
    plugin_module(
        "careless",
        """
        from ablate import hookimpl

        class NoStage:
            def __init__(self, context):
                pass

            def __call__(self, x, generator):
                return x

        @hookimpl
        def register_augments(register):
            register("nostage", NoStage, "forgets its stage")

        @hookimpl
        def register_stems(register):
            register("plain", lambda shape: object(), "not a module")
        """,
    )
    with pytest.raises(AblateError) as info:
        build_slot("data.augment", "nostage", {}, None, registry=get_registry())
    assert str(info.value) == (
        "data.augment: augment 'nostage' (careless) has no attribute stage "
        "(see ablate.contracts.Augment)"
    )
    with pytest.raises(AblateError, match=r"^model\.stem: stem 'plain' \(careless\) returned "):
        build_slot("model.stem", "plain", {}, None, registry=get_registry())


def test_adding_a_kind_is_its_hook_spec_contract_and_config_field(monkeypatch):
    """A new kind, 'frontend', chosen at data.frontend: its hook spec and KINDS entry, its
    contract, and the config field that names it; the slot table, the registry, argument
    checks, errors and the study space all follow."""
    from dataclasses import field, make_dataclass

    from ablate import config as config_module
    from ablate import slots as slots_module

    @hookspecs.hookspec
    def register_frontends(register):
        """Register frontends. Factory: ``factory(context: None, **params) -> Frontend``."""

    class Frontend(contracts.Contract):
        reads: ClassVar[dict] = {"rate": contracts.REQUIRED}

    class Mel:
        def __init__(self, context, rate: int = 16000):
            if rate < 8000:
                raise ValueError(f"rate {rate} is too low")
            self.rate = rate

    monkeypatch.setattr(hookspecs, "register_frontends", register_frontends, raising=False)
    monkeypatch.setitem(hookspecs.KINDS, "frontend", "register_frontends")
    monkeypatch.setitem(contracts.CONTRACTS, "frontend", Frontend)
    data = make_dataclass(
        "Data",
        [
            ("frontend", str, field(default="mel", metadata=config_module.plugin("frontend"))),
            ("frontend_args", dict, field(default_factory=dict)),
        ],
    )
    schema = make_dataclass("Schema", [("data", data, field(default_factory=data))])
    rows = {slot.key: slot for slot in slots_module._rows(schema())}
    assert rows == {"data.frontend": Slot("data.frontend", "frontend")}
    monkeypatch.setitem(SLOTS, "data.frontend", rows["data.frontend"])
    assert SLOTS["data.frontend"].hook == "register_frontends"
    assert SLOTS["data.frontend"].base is Frontend

    plugin = types.ModuleType("frontends")
    plugin.register_frontends = hookimpl(lambda register: register("mel", Mel, "Mel frontend"))
    registry = load_registry([("frontends", "pkg-frontends", plugin)], builtins=False)
    assert registry.failures == []
    assert [c.name for c in registry.all()] == ["mel"]

    assert build_slot("data.frontend", "mel", {"rate": 8000}, None, registry).rate == 8000
    with pytest.raises(AblateError, match=r"^data\.frontend_args\.rat: frontend 'mel' has no "):
        build_slot("data.frontend", "mel", {"rat": 1}, None, registry)
    with pytest.raises(
        AblateError, match=r"^data\.frontend_args: frontend 'mel' \(pkg-frontends\)"
    ):
        build_slot("data.frontend", "mel", {"rate": 10}, None, registry)

    base = OmegaConf.create(OmegaConf.to_container(make_config(presets=False)))
    base.data.frontend, base.data.frontend_args = "mel", {}  # the config field it needs
    space = parse_space(
        {"data.frontend": {"choice": ["mel"]}, "data.frontend_args.rate": {"int": [8000, 9000]}},
        base,
        registry,
    )
    assert [d.key for d in space.dims] == ["data.frontend", "data.frontend_args.rate"]
    assert space.dims[1].active_for == {"mel"}
    with pytest.raises(AblateError, match="no candidate frontend has a parameter 'hz'"):
        parse_space({"data.frontend_args.hz": {"choice": [1]}}, base, registry)


def test_the_study_space_checks_augment_parameters_against_the_plugin(tmp_path):
    """data.augment_args.<name>.<param> is a plugin parameter like any other."""
    from ablate.studies.spec import load_study

    study = tmp_path / "study.yaml"
    study.write_text(
        "name: aug\ndata: {augment: [mixup, noise]}\n"
        "space:\n  data.augment_args.mixup.alpha: {choice: [0.2, 0.4]}\n"
    )
    assert load_study(study, registry=get_registry()).space.dims[0].active_for == {"mixup"}
    study.write_text(study.read_text().replace("mixup.alpha", "mixup.alfa"))
    with pytest.raises(AblateError, match="no candidate augment has a parameter 'alfa'"):
        load_study(study, registry=get_registry())
    study.write_text(study.read_text().replace("mixup.alfa", "speed.low"))
    with pytest.raises(AblateError, match=r"'speed' is not in data\.augment \(mixup, noise\)"):
        load_study(study, registry=get_registry())
    study.write_text("name: aug\ndata: {augment: [mixup], augment_args: {mixup: {beta: 1}}}\n"
                     "space:\n  train.lr: {choice: [0.001]}\n")  # fmt: skip
    with pytest.raises(AblateError, match=r"data\.augment_args\.mixup\.beta: augment 'mixup'"):
        load_study(study, registry=get_registry())


def test_study_validation_does_not_import_model_building():
    """Presets are resolved in ablate.config, so the study spec needs no model code."""
    code = (
        "import sys, ablate.studies.spec, ablate.studies.space; "
        "print(sorted(m for m in sys.modules if m.startswith('ablate.models')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
