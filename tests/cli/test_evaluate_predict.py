"""`ablate evaluate` keeps the model's training speakers out of its test; `ablate predict`
goes on past a bad file and can show every class's probability."""

from __future__ import annotations

import json

import pytest
import yaml

from ablate.cli.main import main
from ablate.config import make_config
from ablate.data.pipeline import scan
from ablate.plugins import get_registry
from tests.tracking.store_helpers import run
from tests.training.conftest import TINY


def _run(capsys, *argv) -> tuple[int, str, str]:
    """``ablate ARGV``: exit code, stdout, stderr (of this call alone)."""
    capsys.readouterr()
    return run(capsys, *argv)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny config, a model trained on every speaker and one with a speaker held out."""
    tmp = tmp_path_factory.mktemp("models")
    config = tmp / "tiny.yaml"
    config.write_text(yaml.safe_dump({"train": {"epochs": 1}}))
    made = {}
    deep = tmp / ("a-long-folder-name-" * 5)  # a path longer than the terminal
    for name, extra in (("all", []), ("held", ["--val-fraction", "0.25"])):
        made[name] = deep / name
        main(["train", str(config), *TINY, "--out", str(made[name]), *extra])
    made["wavs"] = [
        u.path for u in scan(make_config(dotlist=TINY).data, get_registry()).utterances[:3]
    ]
    return made


def test_seen_speakers_are_scored_apart_from_the_test(models, capsys):
    """It reported one UA over every speaker, the model's own training speakers included."""
    meta = json.loads((models["held"] / "meta.json").read_text())
    trained = set(meta["train_speakers"])
    code, out, _ = _run(capsys, "evaluate", models["held"], "synthetic", "--json")
    result = json.loads(out)
    assert code == 0 and result["is_test"] is True
    assert set(result["speakers"]["seen"]) == trained and result["speakers"]["unseen"]
    assert not trained & set(result["speakers"]["unseen"])
    seen = result["seen_in_training"]
    assert seen["n"] > 0 and result["n"] + seen["n"] == 64
    code, out, _ = _run(capsys, "evaluate", models["held"], "synthetic")
    assert "unseen (the test)" in out and "seen in training" in out
    assert f"{len(trained)} of 4 speakers were in the model's training set" in out


def test_a_corpus_of_training_speakers_only_is_not_called_a_test(models, capsys):
    code, out, _ = _run(capsys, "evaluate", models["all"], "synthetic", "--json")
    result = json.loads(out)
    assert result["is_test"] is False and result["seen_in_training"] is None
    assert result["speakers"]["unseen"] == [] and result["n"] == 64
    code, out, _ = _run(capsys, "evaluate", models["all"], "synthetic")
    assert code == 0 and "seen in training: not a test" in out and "(the test)" not in out


def test_predict_goes_on_past_a_bad_file_and_exits_2(models, capsys, tmp_path):
    """One missing file aborted the whole batch."""
    good = models["wavs"]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    files = [good[0], tmp_path / "missing.wav", good[1], empty, good[2]]
    code, out, err = _run(capsys, "predict", models["all"], *files, "--json")
    rows = json.loads(out)
    assert code == 2
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert [r.get("error") for r in rows] == [None, "missing-file", None, "empty", None]
    assert all("label" in rows[i] for i in (0, 2, 4))
    assert err.splitlines() == [
        f"error: {tmp_path / 'missing.wav'}: missing-file",
        f"error: {empty}: empty",
        "error: 2 of 5 files could not be predicted",
    ]


def test_predict_can_print_every_class_probability(models, capsys):
    labels = json.loads((models["all"] / "meta.json").read_text())["label_names"]
    code, out, err = _run(capsys, "predict", models["all"], *models["wavs"][:2], "--all")
    assert code == 0 and not err
    header = next(line for line in out.splitlines() if "label" in line)
    assert all(name in header for name in labels)
    code, out, _ = _run(capsys, "predict", models["all"], models["wavs"][0])
    header = next(line for line in out.splitlines() if "label" in line)
    assert not any(name in header for name in labels) and " p " in f"{header} "


def test_a_long_path_is_printed_whole(models, capsys, tmp_path):
    """Rich cut paths longer than the terminal (80 columns when piped) across lines."""
    out = models["all"].parent / "again"
    assert len(str(out)) > 80
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"train": {"epochs": 1}}))
    code, printed, _ = _run(capsys, "train", config, *TINY, "--out", out)
    assert code == 0 and f"saved model to {out}: " in printed
