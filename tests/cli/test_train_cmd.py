"""`ablate train`, `evaluate` and `predict` round-trip on a saved model directory."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
import yaml

from ablate.cli.main import main
from ablate.config import make_config, resolve_model
from ablate.data.pipeline import scan
from ablate.plugins import get_registry
from tests.training.conftest import tiny_yaml


def run_json(capsys, *argv: str):
    capsys.readouterr()
    main(list(argv))
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def tiny_config_file(tmp_path):
    return tiny_yaml(tmp_path / "tiny.yaml")


def test_train_evaluate_predict_round_trip(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "model"
    trained = run_json(
        capsys, "train", str(tiny_config_file), "train.epochs=2", "--out", str(out), "--json"
    )
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "model.pt", "meta.json"}
    # every speaker trains, for the fixed 2 epochs; no validation split unless asked for
    assert trained["validation_split"] is False and "uar" not in trained
    assert trained["train_utterances"] == 64 and trained["epochs"] == 2
    meta = json.loads((out / "meta.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert all("val_uar" not in h and h["train_loss"] > 0 for h in meta["history"])

    evaluated = run_json(capsys, "evaluate", str(out), "synthetic", "--json")
    assert set(evaluated) >= {"uar", "war", "f1", "n"}
    assert evaluated["n"] == 64

    config = make_config(yaml.safe_load(tiny_config_file.read_text()))
    wavs = [u.path for u in scan(config.data, get_registry()).utterances[:2]]
    predicted = run_json(capsys, "predict", str(out), *map(str, wavs), "--json")
    assert [row["file"] for row in predicted] == [str(w) for w in wavs]
    for row in predicted:
        assert row["label"] in trained["labels"]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_train_prints_one_plain_line_per_epoch_when_not_a_terminal(
    tiny_config_file, tmp_path, capsys
):
    """It printed nothing until the model was saved (23 minutes on a real corpus)."""
    main(["train", str(tiny_config_file), "train.epochs=2", "--out", str(tmp_path / "m")])
    lines = capsys.readouterr().out.splitlines()
    epochs = [line for line in lines if " epoch " in line]
    assert [line.split(":")[0] for line in epochs] == ["train epoch 1/2", "train epoch 2/2"]
    assert all(" loss " in line and line.endswith(" s)") for line in epochs)
    assert not [line for line in epochs if " val UA " in line]  # no validation split
    assert "saved model to" in " ".join(lines)


def test_validation_split_is_opt_in_and_stated(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "model"
    trained = run_json(
        capsys,
        "train",
        str(tiny_config_file),
        "train.epochs=2",
        "train.select=best_val",
        "--val-fraction",
        "0.25",
        "--out",
        str(out),
        "--json",
    )
    assert trained["validation_split"] is True and trained["speakers"]
    assert 0.0 <= trained["uar"] <= 1.0 and 0 < trained["n"] < 64
    assert trained["train_utterances"] == 64 - trained["n"]
    capsys.readouterr()
    main(["train", str(tiny_config_file), "train.epochs=1", "--out", str(out), "--force"])
    said = " ".join(capsys.readouterr().out.split())
    assert "no validation split" in said and "every speaker" in said


def test_missing_model_directory_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path), "x.wav"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "not a model directory" in err and "\n" not in err


# -- bad input to `ablate train`, found before any training ----------------------------------


def _train_error(capsys, *argv: str) -> str:
    """`ablate train ARGV`: exit 2 with one line, within seconds (nothing was trained)."""
    started = time.monotonic()
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        main(["train", *argv])
    assert caught.value.code == 2
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


UNTRAINED = "would save an untrained model; `ablate train` needs at least 1"
# (override, the error after "error: tiny.yaml: ")
TRAIN_VALUES = [
    ("train.epochs=-1", "train.epochs: -1 is out of range (must be >= 0)"),
    ("train.epochs=0", f"train.epochs: 0 {UNTRAINED}"),
    ("train.batch_size=0", "train.batch_size: 0 is out of range (must be >= 1)"),
    ("train.lr=0", "train.lr: 0.0 is out of range (must be > 0)"),
    ("distill.enabled=true distill.finetune_epochs=0", f"distill.finetune_epochs: 0 {UNTRAINED}"),
]


@pytest.mark.parametrize(("override", "message"), TRAIN_VALUES, ids=[c[0] for c in TRAIN_VALUES])
def test_train_values_that_cannot_train_are_one_line_before_training(
    tiny_config_file, tmp_path, capsys, override, message
):
    out = tmp_path / "model"
    err = _train_error(capsys, str(tiny_config_file), *override.split(), "--out", str(out))
    assert err == f"error: {tiny_config_file}: {message}"
    assert not out.exists()


def test_out_that_cannot_take_a_model_is_one_line_before_training(
    tiny_config_file, tmp_path, capsys
):
    config = str(tiny_config_file)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("precious")
    err = _train_error(capsys, config, "--out", str(a_file))
    assert err == f"error: --out {a_file}: is a file; give a folder for the model"
    assert a_file.read_text() == "precious"
    err = _train_error(capsys, config, "--out", str(a_file / "model"))
    assert err == f"error: --out {a_file / 'model'}: cannot write in {a_file} (Not a directory)"
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    err = _train_error(capsys, config, "--out", str(other), "--force")
    assert err == f"error: --out {other}: a folder holding other files; give a new or empty folder"
    assert (other / "keep.txt").read_text() == "mine"


def test_an_existing_model_is_replaced_only_with_force(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "model"
    main(["train", str(tiny_config_file), "train.epochs=1", "--out", str(out), "--json"])
    first = (out / "model.pt").read_bytes()
    err = _train_error(capsys, str(tiny_config_file), "--out", str(out))
    assert err == (
        f"error: --out {out}: already holds a model; pass --force to replace it, "
        "or give another folder"
    )
    assert (out / "model.pt").read_bytes() == first
    argv = ["train", str(tiny_config_file), "train.epochs=1", "train.seed=1", "--out", str(out)]
    main([*argv, "--force", "--json"])
    assert (out / "model.pt").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "tiny.yaml"]  # no leftovers


# -- evaluate on a corpus whose labels partly differ -----------------------------------------


@pytest.fixture
def partly_known(tmp_path, tiny_config_file):
    """An (untrained) model of the 4 tiny synthetic classes, and a folder corpus of
    glide_up, burst_late (known to it) and tilt_high (unknown), 4 files each."""
    from ablate.models.build import build_model
    from ablate.training.saved import SavedModel

    config = make_config(yaml.safe_load(tiny_config_file.read_text()))
    scanned = scan(config.data, get_registry()).utterances
    labels = sorted({u.label for u in scanned})
    model = build_model(resolve_model(config.model), 32, 32, len(labels), registry=get_registry())
    ones = torch.ones(32, 1)
    out = tmp_path / "model"
    SavedModel(config, model, labels, ones * -5, ones * 3, {"label_names": labels}).save(out)
    tree = yaml.safe_load(tiny_config_file.read_text())
    six = make_config(tree, dotlist=["data.dataset_args.classes=6"]).data
    root = tmp_path / "corpus"
    for label in ("glide_up", "burst_late", "tilt_high"):
        files = [u.path for u in scan(six, get_registry()).utterances if u.label == label][:4]
        (root / label).mkdir(parents=True)
        for path in files:
            shutil.copy(path, root / label / path.name)
    return out, root, labels


def test_evaluate_refuses_labels_the_model_does_not_know_unless_asked(partly_known, capsys):
    model, root, labels = partly_known
    with pytest.raises(SystemExit) as caught:
        main(["evaluate", str(model), "folder", str(root)])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        f"error: folder at {root}: 4 utterances have labels the model was not trained on "
        "(tilt_high 4); pass --only-known-labels to score the other 8 on the model's classes\n"
    )
    argv = ["evaluate", str(model), "folder", str(root), "--only-known-labels"]
    result = run_json(capsys, *argv, "--json")
    assert result["n"] == 8 and result["left_out"] == {"n": 4, "labels": {"tilt_high": 4}}
    assert result["classes_scored"] == ["burst_late", "glide_up"]
    assert result["model_classes"] == labels
    main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "UA and macro-F1 over the model's classes present: burst_late, glide_up (2 of 4)" in out
    assert "left out 4 utterances with labels the model does not know: tilt_high 4" in out
