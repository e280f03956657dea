"""End to end on the synthetic corpus with tiny settings: real Optuna storage, real MLflow."""

from __future__ import annotations

import contextlib
import os

import optuna
import pytest
from mlflow import MlflowClient
from study_helpers import TINY, _children, _cli, _study, _trials, fresh_mlflow

from ablate.plugins import get_registry
from ablate.tracking.provenance import package_commit


@pytest.fixture(scope="module")
def swept(tmp_path_factory, mlflow_template):
    """One grid study: 2 positional encodings x (a sane lr, a diverging lr), with entry
    points off: the built-ins alone run a study (before, autoload off removed them all)."""
    tmp = tmp_path_factory.mktemp("sweep")
    fresh_mlflow(mlflow_template, tmp)
    previous = os.environ.get("ABLATE_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["ABLATE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    get_registry.cache_clear()
    try:
        with contextlib.chdir(tmp):
            _cli(["run", _study(tmp, "  train.lr: {choice: [1.0e-3, 1.0e+30]}"), *TINY])
    finally:
        os.environ.pop("ABLATE_DISABLE_PLUGIN_AUTOLOAD")
        if previous is not None:
            os.environ["ABLATE_DISABLE_PLUGIN_AUTOLOAD"] = previous
        get_registry.cache_clear()
    return tmp


def test_sweep_tracks_parent_and_nested_runs(swept):
    client, parents, children = _children(swept)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["ablate.study_key"].startswith("tiny-")
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert finished
    run = finished[0]
    assert run.data.params["model.pos_encoding"] in ("coordinate", "none")
    assert run.data.params["model.patching"] == "vertical"
    for key in ("test_uar_mean", "test_uar_std", "test_war_mean", "test_f1_mean", "params"):
        assert key in run.data.metrics
    timing = {k: run.data.metrics[k] for k in ("seconds", "compute_seconds", "eval_seconds")}
    assert 0 < timing["compute_seconds"] + timing["eval_seconds"] < timing["seconds"]
    assert "test_uar_ci95_low" not in run.data.metrics  # one fold: no interval, none made up
    # per-fold series and scores live in nested fold runs, not in the trial's charts
    assert not [k for k in run.data.metrics if k.startswith("seed")]
    assert {"train/train_loss", "train/val_loss", "train/val_uar"} <= set(run.data.metrics)
    (fold,) = client.search_runs(
        [run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
    )
    assert fold.info.status == "FINISHED" and fold.data.tags["ablate.kind"] == "fold"
    assert fold.info.run_name == f"seed 0 fold 0: test {fold.data.tags['ablate.test_speakers']}"
    assert 0.0 <= fold.data.metrics["test_uar"] <= 1.0 and "train/val_uar" in fold.data.metrics
    assert "model.pt" in {a.path for a in client.list_artifacts(fold.info.run_id)}
    assert run.data.tags["ablate.weights"].startswith("every fold's trained weights")
    # the package's own commit, not the working directory's (a temporary folder here)
    assert run.data.tags["ablate.git_commit"] == package_commit()[0] != "unknown"
    for tag in ("ablate.version.torch", "ablate.fingerprint", "ablate.split"):
        assert run.data.tags[tag]
    # the resolved config: preset values, not null
    assert run.data.params["model.dropout"] not in ("None", "null", "")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "confusion.png", "learning_curves.png", "folds.json"} <= artifacts
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id, "compare")}
    assert parent_files == {"compare/compare.md", "compare/compare.csv", "compare/compare.png"}
    assert "study" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_diverging_trial_is_recorded_as_failed_and_the_study_goes_on(swept):
    trials = _trials(swept)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["train.lr"] > 1 for t in failed)
    assert all(t.user_attrs["fail_reason"] for t in failed)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) >= 1
    _, _, children = _children(swept)
    bad = [c for c in children if c.info.status == "FAILED"]
    assert len(bad) == len(failed) and all(c.data.tags["ablate.fail_reason"] for c in bad)


def test_compare_markdown_csv_and_plot(swept, capsys, monkeypatch):
    monkeypatch.chdir(swept)  # restored afterwards: later tests use paths relative to the repo
    _cli(["compare", "tiny", "--format", "markdown", "--plot", swept / "arms.png"])
    markdown = capsys.readouterr().out
    assert "| rank | arm | speaker_independent | test_uar | ci95 |" in markdown
    assert "pos_encoding=" in markdown and "paired t-test" in markdown
    assert (swept / "arms.png").stat().st_size > 0
    _cli(["compare", "tiny", "--format", "csv", "--metric", "test_f1"])
    header = "rank,arm,speaker_independent,test_f1,ci95_low,ci95_high,sd_folds,sd_seeds"
    assert capsys.readouterr().out.startswith(header)


def test_a_speaker_dependent_study_is_marked_in_run_names_and_compare(tmp_path, mlflow_template):
    fresh_mlflow(mlflow_template, tmp_path)
    with contextlib.chdir(tmp_path):
        _cli(["run", _study(tmp_path), *TINY, "protocol.split=random_kfold", "protocol.folds=2"])
        from ablate.tracking.arms_table import rows
        from ablate.tracking.compare import analyse
        from ablate.tracking.mlflow_store import Store

        # in an experiment of its own, never ranked beside honest studies named tiny
        table = rows(analyse(Store("sqlite:///mlflow.db"), ["tiny (speaker-dependent)"]))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_experiment_by_name("tiny") is None
    experiment = client.get_experiment_by_name("tiny (speaker-dependent)").experiment_id
    children = client.search_runs([experiment], "tags.`ablate.kind` = 'trial'")
    assert {c.info.run_name for c in children} == {
        "pos_encoding=none (speaker-dependent), 1 seed (trial 0)",
        "pos_encoding=coordinate (speaker-dependent), 1 seed (trial 1)",
    }
    assert {r["speaker_independent"] for r in table} == {"NO (speaker-dependent)"}


def test_compare_shows_the_distillation_teacher_as_its_own_arm(tmp_path, mlflow_template):
    fresh_mlflow(mlflow_template, tmp_path)
    study = tmp_path / "distill.yaml"
    study.write_text(
        "name: tiny_distill\n"
        "distill: {enabled: true, teacher_epochs: 1, feature_epochs: 1, finetune_epochs: 1}\n"
        "space:\n  distill.loss: {choice: [feature_l1, none]}\n"
        "optuna: {sampler: grid}\n"
    )
    teacher = ["distill.teacher.dim=48", "distill.teacher.depth=1", "distill.teacher.heads=2",
               "distill.teacher.dim_head=16", "distill.teacher.mlp_dim=32",
               "distill.teacher.stem_args.width=0.25"]  # fmt: skip
    with contextlib.chdir(tmp_path):
        _cli(["run", study, *TINY, *teacher])
        from ablate.tracking.arms import load_arms
        from ablate.tracking.mlflow_store import Store

        _, ranked, _ = load_arms(Store("sqlite:///mlflow.db"), ["tiny_distill"])
    by_name = {arm.name: arm for arm in ranked}
    assert set(by_name) == {"loss=feature_l1", "loss=none", "teacher"}
    teacher_arm, student = by_name["teacher"], by_name["loss=none"]
    assert teacher_arm.runs == 2 and teacher_arm.teacher
    assert len(teacher_arm.values["uar"]) == 1  # one (seed, fold), one teacher
    assert set(teacher_arm.values) == {"uar", "war", "f1"}
    assert teacher_arm.folds == student.folds  # paired on the same test speakers
    assert teacher_arm.params != student.params and teacher_arm.gflops > student.gflops
    assert teacher_arm.seconds > 0
    # the teacher's per-speaker scores are its own, beside its students'
    assert teacher_arm.has_speakers("uar") and student.has_speakers("uar")
    assert teacher_arm.speakers["uar"] != student.speakers["uar"]
