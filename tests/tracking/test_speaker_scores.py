"""A trial records each test speaker's own scores in its fold runs, ``ablate compare``
makes the speakers of multi-speaker folds its units, and the study run carries the
margin its study file declares."""

from __future__ import annotations

import contextlib

import pytest
from mlflow import MlflowClient
from store_helpers import compare_csv
from study_helpers import TINY, _children, _cli, _study, fresh_mlflow

from ablate.training.metrics import classification_metrics


def test_speaker_scores_units_and_the_declared_margin(tmp_path, mlflow_template, capsys):
    fresh_mlflow(mlflow_template, tmp_path)
    study = _study(tmp_path, "verdict: {margin: 0.05}")
    args = ["run", study, *TINY, "protocol.folds=3", "protocol.max_folds=2"]
    with contextlib.chdir(tmp_path):
        _cli(args)
    client, (parent,), trials = _children(tmp_path)
    assert parent.data.tags["ablate.margin"] == "0.05"
    for trial in trials:
        folds = client.search_runs(
            [trial.info.experiment_id], f"tags.`mlflow.parentRunId` = '{trial.info.run_id}'"
        )
        assert len(folds) == 2
        for fold in folds:
            speakers = fold.data.tags["ablate.test_speakers"].split("+")
            assert len(speakers) == 2
            scores = {s: fold.data.metrics[f"speaker/{s}/test_uar"] for s in speakers}
            assert all(0 <= v <= 1 for v in scores.values())
            assert {f"speaker/{s}/test_war" for s in speakers} <= set(fold.data.metrics)
            # each speaker's accuracy, weighted by its utterances (10 per class here), is
            # the fold's: the per-speaker scores come from the same predictions
            wa = [fold.data.metrics[f"speaker/{s}/test_war"] for s in speakers]
            assert sum(wa) / 2 == pytest.approx(fold.data.metrics["test_war"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    key = parent.data.tags["ablate.study_key"]
    capsys.readouterr()
    rows = compare_csv(capsys, uri, key)
    row = next(iter(rows.values()))
    assert (row["folds"], row["speakers"]) == ("2", "4") and "sd_speakers" in row
    assert "p_equivalent" in row  # the declared margin judges equivalence
    # the margin removed from the study file: the same study, judged without one
    study.write_text(study.read_text().replace("verdict: {margin: 0.05}", ""))
    with contextlib.chdir(tmp_path):
        _cli(args)
    capsys.readouterr()
    tags = MlflowClient(uri).get_run(parent.info.run_id).data.tags
    assert "ablate.margin" not in tags
    assert "p_equivalent" not in next(iter(compare_csv(capsys, uri, key).values()))


def test_per_speaker_metrics_are_each_speakers_own():
    import numpy as np

    from ablate.training.engine import Split, evaluate

    class Fixed:
        """A "model" whose logits are given: class 0 for the first speaker's rows."""

        def eval(self):
            return self

        def __call__(self, x):
            logits = torch.zeros(len(x), 2)
            logits[:, 0] = x[:, 0, 0, 0]
            return logits, logits

    import torch

    x = torch.tensor([1.0, 1.0, -1.0, -1.0]).reshape(4, 1, 1, 1)
    y = torch.tensor([0, 1, 0, 1])
    metrics = evaluate(Fixed(), Split(x, y), ["a", "b"], 2, False, ["s1", "s1", "s2", "s2"])
    assert metrics["per_group"]["s1"] == {
        k: v
        for k, v in classification_metrics(np.array([0, 1]), np.array([0, 0]), ["a", "b"]).items()
        if k in ("uar", "war", "f1")
    }
    assert metrics["per_group"]["s2"]["war"] == 0.5 and metrics["war"] == 0.5
