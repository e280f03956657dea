"""A grid runs each distinct trial once, and base-config plugin arguments belong to the
plugin they were written for."""

from __future__ import annotations

import optuna
import pytest

from ablate.plugins import get_registry
from ablate.studies.spec import load_study

GRID = """\
name: grid
space:
  model.patching: {choice: [vertical, square, horizontal]}
  model.patching_args.size: {choice: [4, 8, 16, 32]}
optuna: {sampler: grid}
"""


def _load(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return load_study(path, get_registry())


def test_a_parameter_some_plugins_lack_does_not_repeat_their_trials(tmp_path):
    """Before: 12 trials, of which vertical and horizontal ran 4 identical times each."""
    study = _load(tmp_path, GRID)
    assert study.settings.n_trials == 6  # vertical, horizontal, square x 4 sizes
    configs = []
    for index in range(6):
        trial = optuna.trial.FixedTrial({"ablate.grid_point": index})
        config, chosen = study.space.suggest(trial, study.base)
        configs.append((config.model.patching, dict(config.model.patching_args)))
        assert chosen["model.patching"] == config.model.patching
    assert len({repr(c) for c in configs}) == 6
    assert ("vertical", {}) in configs and ("square", {"size": 32}) in configs


def test_a_grid_without_repeats_keeps_its_plain_parameters(tmp_path):
    study = _load(tmp_path, GRID.replace(", horizontal]", "]").replace("vertical, ", ""))
    assert study.settings.n_trials == 4
    assert study.space.points == ()  # Optuna sees model.patching_args.size itself


def test_the_grid_sampler_runs_every_distinct_point_once(tmp_path):
    from ablate.studies.samplers import sampler

    study = _load(tmp_path, GRID)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    run = optuna.create_study(sampler=sampler(study))
    seen = []

    def objective(trial):
        _, chosen = study.space.suggest(trial, study.base)
        seen.append(repr(sorted(chosen.items())))
        return 0.0

    run.optimize(objective, n_trials=study.settings.n_trials)
    assert len(seen) == len(set(seen)) == 6


def test_base_arguments_apply_only_to_the_plugin_they_were_written_for(tmp_path):
    """Before: `patching_args: {size: 8}` for square was checked against (and given to)
    every swept patching, so sweeping vertical beside it was an error."""
    study = _load(
        tmp_path,
        "name: own\nmodel: {patching: square, patching_args: {size: 8}}\n"
        "space:\n  model.patching: {choice: [square, vertical]}\n",
    )
    square, _ = study.space.suggest(
        optuna.trial.FixedTrial({"model.patching": "square"}), study.base
    )
    vertical, _ = study.space.suggest(
        optuna.trial.FixedTrial({"model.patching": "vertical"}), study.base
    )
    assert dict(square.model.patching_args) == {"size": 8}
    assert dict(vertical.model.patching_args) == {}


def test_base_arguments_are_checked_against_their_own_plugin(tmp_path):
    from ablate.errors import AblateError

    with pytest.raises(AblateError, match=r"model\.patching_args\.sise: patching 'square'"):
        _load(
            tmp_path,
            "name: own\nmodel: {patching: square, patching_args: {sise: 8}}\n"
            "space:\n  model.patching: {choice: [square, vertical]}\n",
        )
