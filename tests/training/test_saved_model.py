"""Tampered, damaged and foreign model directories: each is refused by SavedModel.load
with one line naming the file and the fault (never a traceback, never a model that
predicts NaN), and `ablate predict` exits 2 with that line. Real files, real torch.save."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from ablate.cli.main import main
from ablate.config import resolve_model
from ablate.errors import AblateError
from ablate.models.build import build_model
from ablate.plugins import get_registry
from ablate.training.saved import SavedModel
from tests.training.conftest import tiny_config

LABELS = ["anger", "happiness", "neutral", "sadness"]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    """A real (untrained) model directory written by SavedModel.save."""
    config = tiny_config()
    torch.manual_seed(0)
    model = build_model(
        resolve_model(config.model),
        config.data.n_mels,
        config.data.frames,
        len(LABELS),
        registry=get_registry(),
    )
    n_mels = config.data.n_mels
    mean, std = torch.zeros(n_mels, 1), torch.ones(n_mels, 1)
    out = tmp_path_factory.mktemp("good") / "model"
    SavedModel(config, model.eval(), LABELS, mean, std, {"label_names": LABELS}).save(out)
    return out


def _yaml(folder, change):
    tree = yaml.safe_load((folder / "config.yaml").read_text())
    change(tree)
    (folder / "config.yaml").write_text(yaml.safe_dump(tree))


def _meta(folder, change):
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps(change(meta)))


def _weights(folder, change):
    payload = torch.load(folder / "model.pt", weights_only=True)
    torch.save(change(payload), folder / "model.pt")


def _set(mapping, key, value):
    mapping[key] = value
    return mapping


def _first_weight(payload, value):
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], value)
    return payload


def _laughs(levels: int = 9) -> str:
    """~600 bytes of nested YAML aliases that expand to 10^9 nodes once built."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "model:\n  patching_args:\n" + "".join(f"    {line}\n" for line in lines)


class _Code:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


FIT = "the weights in model.pt do not fit the model config.yaml and meta.json describe"
NOT_WEIGHTS = "not a readable PyTorch weights file (damaged, truncated or another format"

# (case, how the good directory is spoilt, the file named, a phrase the line must hold)
TAMPERED = [
    ("model.dim changed", lambda d: _yaml(d, lambda t: _set(t["model"], "dim", 64)), "", FIT),
    ("model.depth changed", lambda d: _yaml(d, lambda t: _set(t["model"], "depth", 2)), "", FIT),
    (
        "data.n_mels changed",
        lambda d: _yaml(d, lambda t: _set(t["data"], "n_mels", 16)),
        "model.pt",
        "mean has shape (32, 1), expected (16, 1) for data.n_mels 16 in config.yaml",
    ),
    (
        "model.dim out of range",
        lambda d: _yaml(d, lambda t: _set(t["model"], "dim", -5)),
        "config.yaml",
        "model.dim: -5 is out of range (must be >= 1)",
    ),
    (
        "unknown plugin",
        lambda d: _yaml(d, lambda t: _set(t["model"], "patching", "diagonal")),
        "config.yaml",
        "unknown patching 'diagonal'",
    ),
    (
        "unknown key",
        lambda d: _yaml(d, lambda t: _set(t["model"], "dimm", 3)),
        "config.yaml",
        "model.dimm: Key 'dimm' not in 'ModelConfig'",
    ),
    (
        "broken YAML",
        lambda d: (d / "config.yaml").write_text("model: {dim: 32\n"),
        "config.yaml",
        "invalid YAML at line 2, column 1",
    ),
    (
        "a !!python tag",
        lambda d: (d / "config.yaml").write_text("model: !!python/object/apply:os.system [x]\n"),
        "config.yaml",
        "could not determine a constructor for the tag",
    ),
    (
        "a billion laughs in config.yaml",
        lambda d: (d / "config.yaml").write_text(_laughs()),
        "config.yaml",
        "a YAML alias at line 4; ablate never writes one",
    ),
    (
        "config.yaml a list",
        lambda d: (d / "config.yaml").write_text("- a\n- b\n"),
        "config.yaml",
        "expected a YAML mapping at the top level",
    ),
    (
        "broken JSON",
        lambda d: (d / "meta.json").write_text('{"label_names": ['),
        "meta.json",
        "invalid JSON (Expecting value: line 1 column 18 (char 17))",
    ),
    (
        "meta.json a list",
        lambda d: (d / "meta.json").write_text("[1, 2]"),
        "meta.json",
        "expected a JSON object, got list",
    ),
    (
        "no label_names",
        lambda d: _meta(d, lambda m: {}),
        "meta.json",
        "label_names must be a non-empty list of label names, got None",
    ),
    (
        "label_names a string",
        lambda d: _meta(d, lambda m: _set(m, "label_names", "anger")),
        "meta.json",
        "label_names must be a non-empty list of label names, got 'anger'",
    ),
    (
        "label_names with a number",
        lambda d: _meta(d, lambda m: _set(m, "label_names", ["anger", 3, "neutral", "x"])),
        "meta.json",
        "label_names must be a non-empty list",
    ),
    (
        "duplicate label_names",
        lambda d: _meta(d, lambda m: _set(m, "label_names", ["anger"] * 4)),
        "meta.json",
        "label_names has duplicates",
    ),
    (
        "one label too few",
        lambda d: _meta(d, lambda m: _set(m, "label_names", LABELS[:3])),
        "",
        FIT,
    ),
    (
        "no state_dict",
        lambda d: _weights(d, lambda p: {"mean": p["mean"], "std": p["std"]}),
        "model.pt",
        "no state_dict in it",
    ),
    ("a list as the payload", lambda d: _weights(d, lambda p: [p]), "model.pt", "got a list"),
    (
        "state_dict of numbers",
        lambda d: _weights(d, lambda p: _set(p, "state_dict", {"w": 1.0})),
        "model.pt",
        "state_dict must map parameter names to tensors",
    ),
    (
        "a missing weight",
        lambda d: _weights(d, lambda p: p["state_dict"].popitem() and p),
        "",
        FIT,
    ),
    (
        "an extra weight",
        lambda d: _weights(d, lambda p: _set(p["state_dict"], "extra", torch.ones(1)) and p),
        "",
        FIT,
    ),
    (
        "NaN weights",
        lambda d: _weights(d, lambda p: _first_weight(p, float("nan"))),
        "model.pt",
        "weight tensors hold NaN or inf",
    ),
    (
        "mean of the wrong shape",
        lambda d: _weights(d, lambda p: _set(p, "mean", torch.zeros(32))),
        "model.pt",
        "mean has shape (32,), expected (32, 1)",
    ),
    (
        "NaN mean",
        lambda d: _weights(d, lambda p: _set(p, "mean", torch.full((32, 1), float("nan")))),
        "model.pt",
        "mean holds NaN or inf",
    ),
    (
        "std = 0",
        lambda d: _weights(d, lambda p: _set(p, "std", torch.zeros(32, 1))),
        "model.pt",
        "std has values <= 0 (inputs would be divided by zero)",
    ),
    (
        "random bytes",
        lambda d: (d / "model.pt").write_bytes(np.random.default_rng(0).bytes(4096)),
        "model.pt",
        NOT_WEIGHTS,
    ),
    ("empty model.pt", lambda d: (d / "model.pt").write_bytes(b""), "model.pt", NOT_WEIGHTS),
    (
        "truncated model.pt",
        lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:2000]),
        "model.pt",
        NOT_WEIGHTS,
    ),
    (
        "code in model.pt",
        lambda d: _weights(d, lambda p: _set(p, "mean", _Code())),
        "model.pt",
        "refused to load: it holds Python objects, not only tensors",
    ),
]


@pytest.mark.parametrize(
    ("spoil", "name", "phrase"), [c[1:] for c in TAMPERED], ids=[c[0] for c in TAMPERED]
)
def test_a_tampered_model_directory_is_one_line_naming_the_file(
    good_model, tmp_path, spoil, name, phrase
):
    folder = tmp_path / "model"
    shutil.copytree(good_model, folder)
    spoil(folder)
    with pytest.raises(AblateError) as caught:
        SavedModel.load(folder, get_registry())
    message = str(caught.value)
    assert "\n" not in message and phrase in message, message
    assert message.startswith(f"{folder / name}: " if name else f"{folder}: "), message


def test_the_untampered_directory_loads_and_predicts_finite_probabilities(good_model, tmp_path):
    saved = SavedModel.load(good_model, get_registry())
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.3 * np.sin(np.arange(8000) / 5), 16000)
    (row,) = saved.predict_files([wav])
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_on_a_tampered_directory_exits_2_with_one_line(good_model, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(good_model, folder)
    _weights(folder, lambda p: _set(p, "std", torch.zeros(32, 1)))
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.3 * np.sin(np.arange(8000) / 5), 16000)
    with pytest.raises(SystemExit) as caught:
        main(["predict", str(folder), str(wav)])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {folder / 'model.pt'}: std has values <= 0 (inputs would be divided by zero)\n"
    )
