"""The encodings inside attention and the distillation losses on intermediates as study
arms: in the shipped studies, and trained for real in tiny studies (real Optuna storage,
real MLflow store, the synthetic corpus)."""

from __future__ import annotations

import contextlib

import pytest
from study_helpers import TINY, _children, _cli, _trials, fresh_mlflow

from ablate.plugins import get_registry
from ablate.studies.spec import load_study

TEACHER = ["distill.teacher.dim=32", "distill.teacher.depth=1", "distill.teacher.heads=2",
           "distill.teacher.dim_head=16", "distill.teacher.mlp_dim=32",
           "distill.teacher.stem_args.width=0.25"]  # fmt: skip


@pytest.mark.parametrize(
    ("study", "key", "arms"),
    [
        ("pe_vs_coord", "model.pos_encoding", {"rope", "alibi"}),
        ("distillation", "distill.loss", {"token_mse", "attention_kl"}),
    ],
)
def test_the_shipped_studies_sweep_the_new_arms(study, key, arms):
    (dim,) = [
        d
        for d in load_study(f"studies/{study}.yaml", registry=get_registry()).space.dims
        if d.key == key
    ]
    assert arms <= set(dim.grid())


@pytest.mark.parametrize(
    ("key", "arms", "extra"),
    [
        ("model.pos_encoding", ["rope", "alibi"], []),
        ("distill.loss", ["token_mse", "attention_kl"], ["distill.enabled=true", *TEACHER]),
    ],
    ids=["pos_encoding", "distill_loss"],
)
def test_a_tiny_study_of_the_new_arms_trains_every_trial(
    tmp_path, mlflow_template, key, arms, extra
):
    fresh_mlflow(mlflow_template, tmp_path)
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: tiny\nspace:\n  {key}: {{choice: [{', '.join(arms)}]}}\noptuna: {{sampler: grid}}\n"
    )
    epochs = ["distill.teacher_epochs=1", "distill.feature_epochs=1", "distill.finetune_epochs=1"]
    with contextlib.chdir(tmp_path):
        _cli(["run", study, *TINY, *extra, *epochs])
    trials = _trials(tmp_path)
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]
    assert all(0.0 <= t.value <= 1.0 for t in trials)
    _, _, children = _children(tmp_path)
    assert sorted(c.data.params[key] for c in children) == sorted(arms)
