"""Augmentations run once on a small batch before training: each keeps the shape the
model was built for (before, a feature augment cropping 4 frames trained silently on 28
of 32 frames)."""

from __future__ import annotations

import pytest

from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.testing import check_plugin

AUGMENTS = """
import torch
from ablate import hookimpl
from ablate.contracts import BatchAugment, FeatureAugment, WaveAugment


class Crop(FeatureAugment):
    def __init__(self, context, frames: int = 4):
        self.frames = frames

    def __call__(self, x, generator):
        return x[..., self.frames:]


class DropTargets(BatchAugment):
    def __init__(self, context):
        pass

    def __call__(self, x, y, generator):
        return x, y.argmax(-1)


class Stereo(WaveAugment):
    def __init__(self, context):
        pass

    def __call__(self, wave, sample_rate, generator):
        return torch.stack([wave, wave])


class Buggy(FeatureAugment):
    def __init__(self, context):
        pass

    def __call__(self, x, generator):
        return x + undefined_name


@hookimpl
def register_augments(register):
    register("crop", Crop, "crops frames")
    register("drop_targets", DropTargets, "returns class indices")
    register("stereo", Stereo, "two channels")
    register("buggy", Buggy, "a NameError")
"""


@pytest.fixture
def augments(plugin_module):
    plugin_module("shape_augments", AUGMENTS)
    return get_registry()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "crop",
            "data.augment: augment 'crop' (shape_augments) (feature stage) returned "
            "(2, 1, 32, 12); expected (2, 1, 32, 16) (the shape the model was built for)",
        ),
        (
            "drop_targets",
            "data.augment: augment 'drop_targets' (shape_augments) (batch stage) returned "
            "((2, 1, 32, 16), (2,)); expected ((2, 1, 32, 16), (2, 4)) (the shape the model "
            "was built for)",
        ),
        (
            "stereo",
            "data.augment: augment 'stereo' (shape_augments) (wave stage) returned "
            "(2, 16000); expected a 1-D wave (the shape the model was built for)",
        ),
    ],
)
def test_an_augment_that_changes_the_shape_is_one_line(augments, name, message):
    with pytest.raises(AblateError) as info:
        check_plugin("augment", name, registry=augments)
    assert str(info.value) == message


def test_an_augment_that_raises_names_its_own_line(augments):
    with pytest.raises(AblateError) as info:
        check_plugin("augment", "buggy", registry=augments)
    text = str(info.value)
    assert text.startswith("data.augment: augment 'buggy' (shape_augments) failed on a small")
    assert "NameError: name 'undefined_name' is not defined (at " in text
    assert text.endswith("shape_augments.py:36)")  # `return x + undefined_name`


def test_every_built_in_augment_passes(augments):
    for name in ("time_shift", "noise", "speed", "specaugment", "frame_shift", "mixup"):
        check_plugin("augment", name, registry=augments)


def test_a_study_with_a_cropping_augment_stops_before_any_trial(augments, tmp_path):
    from ablate.studies.preflight import check_study
    from ablate.studies.spec import load_study

    study = tmp_path / "s.yaml"
    study.write_text(
        "name: s\ndata: {augment: [crop], n_mels: 32, frames: 32,"
        " dataset_args: {speakers: 3, per_class: 2, classes: 2, seconds: 0.5}}\n"
        "protocol: {split: loso}\nspace:\n  model.pos_encoding: {choice: [none]}\n"
    )
    with pytest.raises(AblateError, match=r"returned \(2, 1, 32, 28\); expected \(2, 1, 32, 32\)"):
        check_study(load_study(study, augments), augments, progress=False)
