"""End to end on the synthetic corpus with tiny settings: real Optuna storage, real MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow import MlflowClient

from ablate.cli.main import main

TINY = [
    "train.epochs=1", "model.dim=32", "model.depth=1", "model.heads=2", "model.dim_head=16",
    "model.mlp_dim=32", "data.n_mels=32", "data.frames=32", "protocol.max_folds=1",
]  # fmt: skip
STUDY = """\
name: tiny
model: {{patching: vertical}}
space:
  model.pos_encoding: {{choice: [coordinate, none]}}
{extra}
optuna: {{sampler: grid}}
"""


def _study(tmp_path, extra=""):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(extra=extra))
    return path


def _cli(args):
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def _trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def _children(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return client, parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One grid study: 2 positional encodings x (a sane lr, a diverging lr)."""
    tmp = tmp_path_factory.mktemp("sweep")
    old = os.getcwd()
    os.chdir(tmp)
    try:
        _cli(["run", _study(tmp, "  train.lr: {choice: [1.0e-3, 1.0e+30]}"), *TINY])
    finally:
        os.chdir(old)
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
    assert any(k.startswith("seed0/fold0/test_uar") for k in run.data.metrics)
    for tag in ("ablate.git_commit", "ablate.version.torch", "ablate.fingerprint", "ablate.split"):
        assert run.data.tags[tag]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "confusion.png", "learning_curves.png", "model_fold0.pt"} <= artifacts
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


def test_compare_markdown_csv_and_plot(swept, capsys):
    os.chdir(swept)
    _cli(["compare", "tiny", "--format", "markdown", "--plot", swept / "arms.png"])
    markdown = capsys.readouterr().out
    assert "| rank | arm | test_uar_mean |" in markdown and "pos_encoding=" in markdown
    assert (swept / "arms.png").stat().st_size > 0
    _cli(["compare", "tiny", "--format", "csv", "--metric", "test_f1"])
    assert capsys.readouterr().out.startswith("rank,arm,test_f1_mean,test_f1_std")


def _ablate(args, cwd, **kwargs):
    entry = "from ablate.cli.main import main; main()"
    return subprocess.Popen([sys.executable, "-c", entry, *map(str, args)], cwd=cwd, **kwargs)


def test_killed_study_resumes_without_rerunning_finished_trials(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _study(tmp_path, "  train.seed: {choice: [0, 1]}")
    proc = _ablate(["run", study, *TINY], tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if any(t.state.name == "COMPLETE" for t in _trials(tmp_path)):
                break
        except Exception:  # storage or study not created yet
            pass
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number for t in _trials(tmp_path) if t.state.name == "COMPLETE"}
    assert before
    _cli(["run", study, *TINY])
    trials = _trials(tmp_path)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4
    assert before <= {t.number for t in complete}
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4
    _, parents, children = _children(tmp_path)
    assert len(parents) == 1
    assert sum(c.info.status == "FINISHED" for c in children) == 4
    assert all(c.info.status != "RUNNING" for c in children)


def test_two_workers_run_exactly_the_budget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _study(tmp_path, "  train.seed: {choice: [0, 1]}")
    _cli(["run", study, *TINY, "--workers", 2, "--n-trials", 3])
    trials = _trials(tmp_path)
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 3
    _, _, children = _children(tmp_path)
    assert sum(c.info.status == "FINISHED" for c in children) == 3
