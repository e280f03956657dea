"""``optuna.*`` overrides on the command line change the sweep settings and the identity."""

import pytest

from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.studies.spec import load_study

STUDY = "studies/pe_vs_coord.yaml"


def test_optuna_override_sets_seeds_and_makes_a_new_study():
    plain = load_study(STUDY, registry=get_registry())
    seeded = load_study(STUDY, get_registry(), ["optuna.seeds=[0,1,2]"])
    assert seeded.settings.seeds == (0, 1, 2)
    assert plain.settings.seeds == (0,)
    assert seeded.key != plain.key


def test_optuna_override_typo_is_one_line():
    with pytest.raises(AblateError, match=r"optuna.sampler: unknown sampler 'grd'; known: grid"):
        load_study(STUDY, get_registry(), ["optuna.sampler=grd"])


def test_teacher_typo_is_caught_while_distillation_is_off():
    """It would change the study key, quietly starting a new study, so it must fail."""
    with pytest.raises(
        AblateError, match=r"distill.teacher.stem_args.widht: stem 'conv' has no parameter"
    ):
        load_study(STUDY, get_registry(), ["distill.teacher.stem_args.widht=0.5"])


@pytest.mark.parametrize(
    ("override", "swept"),
    [
        ("model.pos_encoding=none", "model.pos_encoding"),
        ("model.pos_encoding=coordinate", "model.pos_encoding"),
    ],
)
def test_an_override_of_a_swept_key_is_refused(override, swept):
    """It was ignored (each trial sets the key from the space) yet changed the study key:
    a new, identical study under another key."""
    with pytest.raises(AblateError) as caught:
        load_study(STUDY, get_registry(), [override])
    assert str(caught.value) == (
        f"pe_vs_coord.yaml: override '{override}': {swept} is swept in space:, which sets it "
        "in every trial; edit the space in pe_vs_coord.yaml instead"
    )


def test_an_override_of_a_swept_plugin_parameter_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nmodel: {patching: square}\n"
        "space:\n  model.patching_args.size: {choice: [8, 16]}\n"
    )
    with pytest.raises(AblateError, match=r"override 'model\.patching_args\.size=4': model\."):
        load_study(path, get_registry(), ["model.patching_args.size=4"])
    assert (
        load_study(path, get_registry(), ["model.depth=2"]).base.model.depth == 2
    )  # others still apply
