"""The openSMILE baseline as an arm: studies/baseline_opensmile.yaml and the reference CNN
on the same real RAVDESS actors, one MLflow store, `ablate compare` ranking them in one
table paired over the same test speakers; the baseline trains, saves and predicts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from study_helpers import _cli

from ablate.cli.main import main

REPO_STUDIES = "studies"
LOSO = ["protocol.split=loso", "protocol.val_fraction=0", "train.threads=1"]


def test_the_baseline_ranks_beside_the_cnn_on_the_same_speakers(
    workdir, ravdess_copy, request, capsys
):
    pytest.importorskip("opensmile")
    studies = request.config.rootpath / REPO_STUDIES
    root = ravdess_copy(("01", "02", "03"))
    data = ["data.dataset=ravdess", f"data.root={root}", *LOSO]
    _cli(["run", studies / "baseline_opensmile.yaml", *data, "train.epochs=20"])
    _cli(["run", studies / "reference_cnn.yaml", *data, "train.epochs=1", "data.augment=[]"])
    capsys.readouterr()
    main(["compare", "baseline_opensmile", "reference_cnn", "--format", "csv"])
    rows = {r["arm"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(rows) == {"baseline_opensmile: preset=linear", "reference_cnn: preset=cnn"}
    baseline = rows["baseline_opensmile: preset=linear"]
    assert (baseline["folds"], baseline["speaker_independent"]) == ("3", "yes")
    assert baseline["params"] == str(88 * 8 + 8)
    cnn = rows["reference_cnn: preset=cnn"]
    compared = cnn if cnn["pairs"] else baseline
    assert compared["pairs"] == "3"  # paired over the same three test actors


def test_the_baseline_trains_saves_and_predicts(workdir, ravdess_few, request, capsys):
    pytest.importorskip("opensmile")
    study = request.config.rootpath / REPO_STUDIES / "baseline_opensmile.yaml"
    out = workdir / "model"
    data = ["data.dataset=ravdess", f"data.root={ravdess_few}", "train.epochs=5"]
    main(["train", str(study), *data, "--out", str(out), "--json"])
    trained = json.loads(capsys.readouterr().out)
    assert trained["train_utterances"] == 16
    files = sorted(str(p) for p in (ravdess_few / "Actor_01").glob("*.wav"))[:3]
    main(["predict", str(out), *files, "--json"])
    predicted = json.loads(capsys.readouterr().out)
    assert [row["file"] for row in predicted] == files
    assert all(abs(sum(row["probabilities"].values()) - 1) < 1e-5 for row in predicted)
