"""A malformed study file fails in validation, before any training, with a one-line error."""

from __future__ import annotations

import textwrap

import pytest

from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.studies.spec import load_study

GOOD = """\
name: tiny
model: {patching: vertical}
space:
  model.pos_encoding: {choice: [coordinate, none]}
"""

CASES = [
    ("modle: {}\n" + GOOD, "unknown key 'modle' (did you mean 'model'?"),
    (
        GOOD.replace("coordinate,", "cordinate,"),
        "space.model.pos_encoding: unknown pos_encoding 'cordinate'; known: alibi, coordinate",
    ),
    (GOOD.replace("model.pos_encoding", "model.pos_encodin"), "unknown key 'pos_encodin' in model"),
    (
        GOOD + "  model.patching_args.size: {choice: [8]}\n",
        "space.model.patching_args.size: no candidate patching has a parameter 'size'",
    ),
    (
        GOOD.replace("{patching: vertical}", "{patching: vertical, patching_args: {size: 8}}"),
        "model.patching_args.size: patching 'vertical' has no parameter 'size'",
    ),
    (
        GOOD.replace("{patching: vertical}", "{patching: vertcal}"),
        "model.patching: unknown patching",
    ),
    ("name: tiny\nspace: {}\n", "space: empty search space"),
    (GOOD + "train: {epochs: -3}\n", "train.epochs: -3 is out of range"),
    (GOOD + "train: {epochs: many}\n", "train.epochs"),
    (GOOD + "space2: 1\n", "unknown key 'space2'"),
    (GOOD + "  train.lr: {float: [1.0e-4, 1.0e-3]}\n", "a float range has no grid"),
    (GOOD + "optuna: {sampler: bayes}\n", "optuna.sampler: unknown sampler 'bayes'"),
    (GOOD + "optuna: {sampler: tpe}\n", "optuna.n_trials: required with sampler tpe"),
    (GOOD + "  model.depth: {int: [0, 2]}\n", "model.depth: 0 is out of range"),
    ("name: tiny\nspace: [a\n", "invalid YAML at line 3, column 1"),
    (GOOD + "verdict: {margn: 0.03}\n", "verdict: unknown key 'margn' (did you mean 'margin'?"),
    (GOOD + "verdict: {margin: 3}\n", "verdict.margin: expected the smallest difference"),
    (GOOD + "verdict: {margin: -0.1}\n", "verdict.margin: expected"),
    (GOOD + "verdict: {margin: big}\n", "verdict.margin: expected"),
    (GOOD + "verdict: 0.03\n", "verdict: expected a mapping such as {margin: 0.03}"),
]


@pytest.mark.parametrize(("text", "message"), CASES, ids=[m[:30] for _, m in CASES])
def test_bad_study_fails_before_training(tmp_path, text, message):
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(AblateError) as info:
        load_study(path, registry=get_registry())
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("study.yaml: ")


def test_plugin_param_is_conditional_and_identity_ignores_operational_keys(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        GOOD.replace(
            "model.pos_encoding: {choice: [coordinate, none]}",
            "model.patching: {choice: [vertical, square]}\n"
            "  model.patching_args.size: {choice: [8, 16]}",
        )
    )
    study = load_study(path, registry=get_registry())
    size = study.space.dims[-1]
    assert size.active_for == {"square"}
    assert study.settings.n_trials == 3  # vertical once: it has no size (was 4)
    assert load_study(path, get_registry(), ["data.workers=7"]).key == study.key
    assert load_study(path, get_registry(), ["train.epochs=3"]).key != study.key


def test_shipped_studies_validate():
    from pathlib import Path

    for path in sorted(Path(__file__).parents[2].joinpath("studies").glob("*.yaml")):
        load_study(path, registry=get_registry())


def test_identity_leaves_out_unset_keys_so_a_new_null_field_changes_no_key(tmp_path):
    """A field a later version adds at null ("from the preset") must not change the key
    of a study started before it, or that study would not resume."""
    from ablate.config import identity

    assert identity({"model": {"dim": None, "depth": 3}, "train": {"threads": 2}}) == {
        "model.depth": 3
    }
    path = tmp_path / "study.yaml"
    path.write_text(GOOD)
    assert (
        load_study(path, get_registry(), ["model.distill_token=null"]).key
        == load_study(path, get_registry()).key
    )
    assert (
        load_study(path, get_registry(), ["model.distill_token=true"]).key
        != load_study(path, get_registry()).key
    )


def test_a_declared_margin_judges_the_study_and_changes_no_trial(tmp_path):
    """The margin is how compare judges the arms, not what a trial trains: a study run
    again with another margin resumes its trials under the same key."""
    path = tmp_path / "study.yaml"
    path.write_text(GOOD)
    plain = load_study(path, get_registry())
    path.write_text(GOOD + "verdict: {margin: 0.03}\n")
    declared = load_study(path, get_registry())
    assert (plain.margin, declared.margin) == (None, 0.03)
    assert declared.key == plain.key
