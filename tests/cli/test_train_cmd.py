"""`ablate train`, `evaluate` and `predict` round-trip on a saved model directory."""

from __future__ import annotations

import json

import pytest
import yaml

from ablate.cli.main import main
from ablate.config import make_config
from ablate.data.pipeline import scan
from tests.training.conftest import TINY


def run_json(capsys, *argv: str):
    capsys.readouterr()
    main(list(argv))
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def tiny_config_file(tmp_path):
    tree: dict = {}
    for item in TINY:
        key, value = item.split("=", 1)
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_train_evaluate_predict_round_trip(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "model"
    trained = run_json(
        capsys, "train", str(tiny_config_file), "train.epochs=2", "--out", str(out), "--json"
    )
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "model.pt", "meta.json"}
    assert 0.0 <= trained["uar"] <= 1.0 and trained["n"] > 0

    evaluated = run_json(capsys, "evaluate", str(out), "synthetic", "--json")
    assert set(evaluated) >= {"uar", "war", "f1", "n"}
    assert evaluated["n"] == 64

    config = make_config(yaml.safe_load(tiny_config_file.read_text()))
    wavs = [u.path for u in scan(config.data).utterances[:2]]
    predicted = run_json(capsys, "predict", str(out), *map(str, wavs), "--json")
    assert [row["file"] for row in predicted] == [str(w) for w in wavs]
    for row in predicted:
        assert row["label"] in trained["labels"]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_missing_model_directory_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path), "x.wav"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "not a model directory" in err and "\n" not in err
