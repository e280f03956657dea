"""A key given twice in one YAML mapping is refused, naming the key and both lines: PyYAML
keeps the last silently (a second `train:` section dropped `lr`; a second
`model.pos_encoding` under `space:` replaced a two-value choice: 1 trial instead of 2)."""

from __future__ import annotations

import shutil

import pytest
import torch
from study_helpers import study_error

from ablate.cli.main import main
from ablate.config import load_yaml, resolve_model
from ablate.errors import AblateError
from ablate.models.build import build_model
from ablate.plugins import get_registry
from ablate.training.saved import SavedModel
from tests.training.conftest import tiny_config

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"
TAIL = " (YAML would silently keep only the last); give each key once"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: t\ntrain: {lr: 1.0e-3}\n" + SPACE + "train: {epochs: 2}\n",
            "duplicate key 'train' at lines 2 and 5",
        ),
        (
            "name: t\n" + SPACE + "  model.pos_encoding: {choice: [none]}\n",
            "duplicate key 'model.pos_encoding' at lines 3 and 4",
        ),
        (
            "name: t\ntrain: {lr: 1.0e-3, lr: 1.0e-4}\n" + SPACE,
            "duplicate key 'lr' at line 2, twice",
        ),
        ("name: t\nname: u\n" + SPACE, "duplicate key 'name' at lines 1 and 2"),
    ],
    ids=["a second section", "a second swept key", "twice on one line", "two names"],
)
def test_ablate_run_refuses_a_duplicate_key(tmp_path, capsys, text, message):
    assert study_error(tmp_path, text, capsys) == f"error: study.yaml: {message}{TAIL}\n"


def test_ablate_train_refuses_a_duplicate_key_before_training(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  epochs: 1\n  lr: 0.1\n  epochs: 2\n")
    with pytest.raises(SystemExit) as caught:
        main(["train", str(config), "--out", str(tmp_path / "m")])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {config}: duplicate key 'epochs' at lines 2 and 4{TAIL}\n"
    )
    assert not (tmp_path / "m").exists()


def test_a_model_directorys_config_with_a_duplicate_key_is_refused(tmp_path):
    config = tiny_config()
    model = build_model(
        resolve_model(config.model),
        config.data.n_mels,
        config.data.frames,
        2,
        registry=get_registry(),
    )
    n_mels = config.data.n_mels
    stats = torch.zeros(n_mels, 1), torch.ones(n_mels, 1)
    out = tmp_path / "model"
    SavedModel(config, model, ["a", "b"], *stats, {"label_names": ["a", "b"]}).save(out)
    SavedModel.load(out, get_registry())
    text = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(text + "model:\n  depth: 9\n")
    line = text.splitlines().index("model:") + 1
    end = len(text.splitlines()) + 1
    with pytest.raises(AblateError) as caught:
        SavedModel.load(out, get_registry())
    assert str(caught.value) == (
        f"{out / 'config.yaml'}: duplicate key 'model' at lines {line} and {end}{TAIL}"
    )
    shutil.rmtree(out)


def test_yaml_merge_keys_and_equal_keys_in_different_mappings_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "base: &b {lr: 1.0e-3, epochs: 2}\n"
        "train:\n  <<: *b\n  lr: 5.0e-4\n"
        "distill: {teacher: {dim: 8}, alpha: 1.0}\nmodel: {dim: 8}\n"
    )
    assert load_yaml(path)["train"] == {"lr": 5.0e-4, "epochs": 2}


def test_a_model_directorys_meta_json_with_a_duplicate_key_is_refused(tmp_path):
    """meta.json is JSON, where the last of two equal keys wins too."""
    from ablate.training.model_files import read_meta

    path = tmp_path / "meta.json"
    path.write_text('{"label_names": ["a", "b"], "label_names": ["b", "a"]}')
    with pytest.raises(AblateError) as caught:
        read_meta(path)
    assert str(caught.value) == (
        f"{path}: duplicate key 'label_names' (JSON would silently keep only the last)"
    )
