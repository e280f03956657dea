"""What a study records: only what each trial used (resolved params, sections that were
off left out), Optuna plots that carry information, and a storage that optuna-dashboard
shows with the metric's name and each trial's arm."""

from __future__ import annotations

import contextlib
import json

import optuna
import pytest
from study_helpers import TINY, _children, _cli, _study, fresh_mlflow

from ablate.tracking.optuna_plots import OPTUNA_PLOTS, informative, optuna_pngs


@pytest.fixture(scope="module")
def study(tmp_path_factory, mlflow_template):
    """Two arms of one factor, an augment applied and another's arguments set but unused,
    distillation off."""
    tmp = tmp_path_factory.mktemp("record")
    fresh_mlflow(mlflow_template, tmp)
    with contextlib.chdir(tmp):
        _cli(
            [
                "run", _study(tmp), *TINY, "--n-trials", 2,
                "data.augment=[time_shift]", "data.augment_args.noise.snr_db=5",
            ]
        )  # fmt: skip
    return tmp


def test_a_trial_logs_only_what_it_used_each_value_resolved(study):
    """It logged 87 params: nulls, train.device=auto, 20 distill.teacher.* with
    distillation off, the arguments of augments it did not apply."""
    _, (parent,), trials = _children(study)
    for trial in trials:
        params = trial.data.params
        assert params["train.device"] == "cpu"  # the device that ran, not "auto"
        assert "None" not in params.values() and "{}" not in params.values()
        assert "data.root" not in params and "data.f_max" not in params
        assert params["distill.enabled"] == "false"
        assert not [k for k in params if k.startswith("distill.") and k != "distill.enabled"]
        assert not [k for k in params if k.startswith("data.augment_args.noise")]
        assert params["data.augment_args.time_shift.max_seconds"] == "0.2"  # its default
        assert params["model.pos_encoding"] in ("coordinate", "none")
    assert not [k for k in parent.data.params if k.startswith("distill.teacher")]
    assert "data.root" not in parent.data.params


def test_optuna_plots_are_only_those_that_show_something(study):
    client, (parent,), _ = _children(study)
    written = {
        a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(parent.info.run_id, "study/plots")
    }
    # one parameter, no pruner: no contour, no importances ranking one thing, no
    # intermediate values (Optuna drew each as an empty axis)
    assert "contour.png" not in written and "intermediate_values.png" not in written
    assert "param_importances.png" not in written
    assert {"optimization_history.png", "slice.png", "timeline.png"} <= written


def test_a_two_parameter_study_with_reported_values_gets_its_contour(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()

    def objective(trial):
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        trial.report(x + y, 0)
        return x * y

    study.optimize(objective, n_trials=4)
    assert all(informative(name, study) for name in OPTUNA_PLOTS)
    written = {p.name for p in optuna_pngs(study, tmp_path)}
    assert {"contour.png", "intermediate_values.png", "param_importances.png"} <= written


def test_optuna_dashboard_sees_the_metric_name_and_each_trials_arm(study):
    storage = f"sqlite:///{study / 'runs' / 'tiny' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    loaded = optuna.load_study(study_name=summary.study_name, storage=storage)
    assert loaded.metric_names == ["test_uar_mean"]  # was "Objective 0"
    arms = {t.user_attrs["arm"] for t in loaded.trials}
    assert arms == {"pos_encoding=coordinate", "pos_encoding=none"}


def test_run_names_show_floats_to_three_significant_digits():
    from omegaconf import OmegaConf

    from ablate.tracking.naming import trial_run_name

    config = OmegaConf.create({"protocol": {"split": "loso", "augment_before_split": False}})
    name = trial_run_name(3, config, {"train.lr": 0.0010450742963586343}, 1)
    assert name == "lr=0.00105, 1 seed (trial 3)"
    assert json.dumps(name)  # plain text


def test_drawing_a_one_trial_study_warns_nothing(tmp_path):
    """matplotlib's "identical low and high xlims" and Optuna's "too small to compute
    importances" UserWarnings printed after a one-arm study."""
    import warnings

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: (t.suggest_categorical("x", ["a"]), 0.5)[1], 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = optuna_pngs(study, tmp_path)
    assert not caught, [str(w.message) for w in caught]
    assert {p.name for p in written} == {
        "optimization_history.png", "slice.png", "parallel_coordinate.png", "timeline.png"
    }  # fmt: skip
