"""What a person sees in the MLflow UI: the experiment's view, the study run's answer, fold
runs kept out of the trial's charts, the confusion matrix and the package's commit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from study_helpers import TINY, _children, _cli, _study, fresh_mlflow

from ablate.tracking import views
from ablate.tracking.folds import averaged_curves
from ablate.tracking.plots import cell_text, confusion_png, shares_per_true_class


@pytest.fixture(scope="module")
def study(tmp_path_factory, mlflow_template):
    """Two arms, two folds, two seeds: intervals, pairs and fold runs exist."""
    tmp = tmp_path_factory.mktemp("answer")
    fresh_mlflow(mlflow_template, tmp)
    study = tmp / "study.yaml"
    study.write_text(
        _study(tmp).read_text().replace("sampler: grid", "sampler: grid, seeds: [0, 1]")
    )
    import contextlib

    with contextlib.chdir(tmp):
        _cli(["run", study, *TINY, "protocol.max_folds=2"])
    return tmp


def test_the_experiment_opens_on_its_ranked_runs(study):
    client, parents, _ = _children(study)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags[views.KIND_TAG] == "custom_model_development"
    state = json.loads(experiment.tags[views.VIEW_TAG])
    assert state["orderByKey"] == "metrics.`rank`" and state["orderByAsc"] is True
    assert state["selectedColumns"][:4] == [
        "tags.`test UA`", "tags.`verdict`", "tags.`test WA`", "tags.`test F1`"
    ]  # fmt: skip
    assert not [c for c in state["selectedColumns"] if c.startswith("metrics.")]  # 12 digits
    assert "params.`model.pos_encoding`" in state["selectedColumns"]
    # the view's filter keeps the study and trial runs, drops the fold runs; the study run
    # ranks first (0), then the trials by their arm's rank in the answer
    shown = client.search_runs(
        [experiment.experiment_id], state["searchFilter"], order_by=["metrics.`rank` ASC"]
    )
    assert [r.data.tags["ablate.kind"] for r in shown] == ["study", "trial", "trial"]
    assert [r.data.metrics["rank"] for r in shown] == [0, 1, 2]
    assert shown[1].info.run_name.startswith(parents[0].data.tags["ablate.top_arm"])
    # each row's verdict: the answer on the study run, each trial's against the reference
    assert shown[0].data.tags["verdict"].startswith("no arm detectably best; top ")
    assert shown[1].data.tags["verdict"] == "reference"
    assert re.fullmatch(r"inconclusive, [+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]",
                        shown[2].data.tags["verdict"])  # fmt: skip
    answer = parents[0].data.tags["ablate.answer"]
    assert experiment.tags["mlflow.note.content"].startswith(
        f"**{parents[0].data.tags['ablate.study_key']}: {answer}**"
    )


def test_the_study_run_tells_the_answer(study, capsys):
    client, (parent,), trials = _children(study)
    key = parent.data.tags["ablate.study_key"]
    top, answer = parent.data.tags["ablate.top_arm"], parent.data.tags["ablate.answer"]
    # two folds cannot show one arm better than the other: no "best arm" is claimed
    assert parent.data.tags["ablate.best_arm"] == f"none detectably (top: {top})"
    assert parent.info.run_name.startswith(f"{key}: no arm detectably best; top {top} ")
    assert answer.startswith("no arm differs detectably (MDE ") and f"top estimate {top}" in answer
    capsys.readouterr()
    _cli(
        [
            "compare",
            key,
            "--format",
            "markdown",
            "--tracking-uri",
            f"sqlite:///{study / 'mlflow.db'}",
        ]
    )
    printed = capsys.readouterr().out
    note = parent.data.tags["mlflow.note.content"]
    # the answer, then the verdict table, narrow enough for the run page
    assert note.startswith(printed.split("\n\n", 1)[0])
    assert note.splitlines()[0] == f"**{key}: {answer}**"
    assert note.splitlines()[2] == "| arm | test_uar [95% CI] | diff [95% CI] | verdict | MDE |"
    assert "reference" in note and "inconclusive" in note
    # every column: the artifact, what `ablate compare --format markdown` prints
    saved = client.download_artifacts(parent.info.run_id, "compare/compare.md", str(study))
    assert Path(saved).read_text() == printed
    assert "| rank | arm | speaker_independent | test_uar | ci95 |" in printed
    # params: the fixed settings and the swept factor, nothing operational
    assert json.loads(parent.data.params["space.model.pos_encoding"]) == ["coordinate", "none"]
    assert parent.data.params["model.patching"] == "vertical"
    assert (
        "model.pos_encoding" not in parent.data.params and "train.threads" not in parent.data.params
    )
    assert parent.data.metrics["test_uar_mean"] == max(
        t.data.metrics["test_uar_mean"] for t in trials
    )
    files = {a.path for a in client.list_artifacts(parent.info.run_id, "compare")}
    assert files == {"compare/compare.md", "compare/compare.csv", "compare/compare.png"}


def test_a_trial_keeps_per_fold_detail_in_its_fold_runs(study):
    client, _, trials = _children(study)
    for trial in trials:
        assert trial.info.run_name.endswith(f"2 seeds (trial {trial.data.tags['ablate.trial']})")
        folds = client.search_runs(
            [trial.info.experiment_id], f"tags.`mlflow.parentRunId` = '{trial.info.run_id}'"
        )
        assert sorted((f.data.tags["ablate.seed"], f.data.tags["ablate.fold"]) for f in folds) == [
            ("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")
        ]  # fmt: skip
        for fold in folds:
            assert fold.info.status == "FINISHED"
            assert "model.pt" in {a.path for a in client.list_artifacts(fold.info.run_id)}
        # the trial's own charts: the averaged curves and summaries, no per-fold series
        assert not [k for k in trial.data.metrics if k.startswith("seed")]
        history = client.get_metric_history(trial.info.run_id, "train/val_uar")
        by_epoch = {}
        for f in folds:
            for m in client.get_metric_history(f.info.run_id, "train/val_uar"):
                by_epoch.setdefault(m.step, []).append(m.value)
        assert [(m.step, m.value) for m in history] == [
            (step, pytest.approx(np.mean(v))) for step, v in sorted(by_epoch.items())
        ]
        assert trial.data.metrics["test_uar_ci95_low"] <= trial.data.metrics["test_uar_mean"]
        note = trial.data.tags["mlflow.note.content"]  # the headline first on the trial page
        assert note.startswith("**test UA ") and "(95% CI " in note and "model.pt" in note


def test_averaged_curves_count_each_epoch_over_the_folds_that_reached_it():
    histories = [
        [
            {"stage": "train", "epoch": 1, "val_uar": 0.2},
            {"stage": "train", "epoch": 2, "val_uar": 0.4},
        ],
        [{"stage": "train", "epoch": 1, "val_uar": 0.4}],
    ]
    assert averaged_curves(histories) == {
        1: {"train/val_uar": pytest.approx(0.3)}, 2: {"train/val_uar": pytest.approx(0.4)}
    }  # fmt: skip


def test_the_confusion_matrix_is_normalised_per_true_class_with_counts(tmp_path):
    """It was raw counts summed over folds, untitled."""
    shares = shares_per_true_class([[3, 1], [0, 4], [0, 0]])
    assert shares.tolist() == [[0.75, 0.25], [0.0, 1.0], [0.0, 0.0]]
    assert np.mean(np.diag(shares[:2])) == 0.875  # the diagonal's mean is UA
    assert cell_text(0.75, 3) == "0.75\n3"
    path = confusion_png([[3, 1], [0, 4]], ["a", "b"], tmp_path / "c.png", "test UA 0.875")
    assert path.stat().st_size > 0


def test_the_git_commit_is_the_packages_own_from_any_directory(tmp_path):
    code = "from ablate.tracking.provenance import provenance_tags as p; "
    code += "print(p()['ablate.git_commit'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    here = done.stdout.strip()
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert here == head.stdout.strip() and len(here) == 40  # it was "unknown" outside the repo


def test_the_parallel_coordinate_plot_shows_its_best_and_worst_lines():
    """The best line sat on the top border and the worst was drawn white."""
    import optuna
    import optuna.visualization.matplotlib as ovm
    from matplotlib.collections import LineCollection

    from ablate.tracking.optuna_plots import _readable_lines

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for value, arm in ((0.9, "a"), (0.5, "b"), (0.7, "c")):
        study.enqueue_trial({"x": arm})
        study.optimize(lambda t, v=value: (t.suggest_categorical("x", ["a", "b", "c"]), v)[1], 1)
    figure = ovm.plot_parallel_coordinate(study).figure
    _readable_lines(figure)
    objective = figure.axes[0]
    low, high = objective.get_ylim()
    assert low < 0.5 and high > 0.9  # neither extreme on the border
    (lines,) = [c for c in objective.collections if isinstance(c, LineCollection)]
    assert max(lines.get_cmap()(0.0)[:3]) < 0.9  # the worst line is not white


def test_a_study_of_one_arm_is_not_told_no_arm_is_best(tmp_path, mlflow_template, monkeypatch):
    """The reference CNN alone: its study run was named "no arm detectably best"."""
    monkeypatch.chdir(tmp_path)  # the fold runs' artifacts go to ./mlruns
    from sim_store import write_study

    from ablate.tracking.answer import publish
    from ablate.tracking.mlflow_store import Store

    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    scores = {(0, f): 0.6 + 0.01 * f for f in range(4)}
    write_study(store, "alone", "alone-1", {"cnn": scores}, [[f"s{f}"] for f in range(4)])
    experiment = store.client.get_experiment_by_name("alone").experiment_id
    (parent,) = store.client.search_runs([experiment], "tags.`ablate.kind` = 'study'")
    assert publish(store, parent, "test_uar_mean") == "one arm (top: pos_encoding=cnn)"
    run = store.client.get_run(parent.info.run_id)
    assert run.info.run_name.startswith("alone-1: one arm, pos_encoding=cnn 0.615 [")
    assert run.data.tags["ablate.answer"].startswith("one arm, pos_encoding=cnn: test_uar 0.615")
