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
