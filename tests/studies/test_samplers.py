"""Samplers seeded per trial: processes working one study propose different parameters,
and one process proposes the same sequence for the same seed."""

from __future__ import annotations

import optuna
import pytest

from ablate.plugins import get_registry
from ablate.studies.samplers import sampler
from ablate.studies.spec import load_study

STUDY = """\
name: search
space:
  train.lr: {float: [1.0e-4, 1.0e-2], log: true}
  model.dropout: {float: [0.0, 0.5]}
  model.pos_encoding: {choice: [coordinate, learned, sinusoidal, none]}
optuna: {sampler: SAMPLER, n_trials: 8}
"""


def _study(tmp_path, kind: str, storage: str) -> tuple[optuna.Study, object]:
    path = tmp_path / f"{kind}.yaml"
    text = STUDY.replace("SAMPLER", kind)
    if kind == "grid":  # a grid has no float ranges
        text = text.replace("{float: [1.0e-4, 1.0e-2], log: true}", "{choice: [1.0e-4, 1.0e-3]}")
        text = text.replace("{float: [0.0, 0.5]}", "{choice: [0.0, 0.5]}")
    path.write_text(text)
    spec = load_study(path, registry=get_registry())
    study = optuna.create_study(
        study_name=spec.key, storage=storage, sampler=sampler(spec), load_if_exists=True
    )
    return study, spec


def _ask(study, spec) -> optuna.Trial:
    trial = study.ask()
    spec.space.suggest(trial, spec.base)
    return trial


@pytest.mark.parametrize("kind", ["tpe", "random", "grid"])
def test_two_processes_on_one_storage_propose_different_trials(tmp_path, kind):
    """Two Session objects stand for two worker processes: both start before either has
    a result, as ``--workers 2`` does (the seeded TPE start-up ran the same trial twice)."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    (a, spec), (b, _) = _study(tmp_path, kind, storage), _study(tmp_path, kind, storage)
    first, second = _ask(a, spec), _ask(b, spec)
    assert first.number != second.number
    assert first.params != second.params


@pytest.mark.parametrize("kind", ["tpe", "random", "grid"])
def test_one_process_proposes_the_same_sequence_for_the_same_seed(tmp_path, kind):
    runs = []
    for name in ("one", "two"):
        study, spec = _study(tmp_path, kind, f"sqlite:///{tmp_path / name}.db")
        params = []
        for _ in range(4):
            trial = _ask(study, spec)
            study.tell(trial, trial.params["train.lr"])
            params.append(trial.params)
        runs.append(params)
    assert runs[0] == runs[1]
    assert len({str(p) for p in runs[0]}) == 4
