"""`ablate predict` on what it is given. A per-speaker model (`data.norm=speaker`, the
shipped recipe) changed its answer for a file with the other files on the command line
(one utterance was normalised as if it were a whole speaker); a FIFO hung it; a folder
was `unreadable`; a 2-sample file at 1 Hz was predicted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ablate.cli.main import main
from ablate.config import make_config
from ablate.data.pipeline import scan
from ablate.plugins import get_registry
from tests.training.conftest import TINY, tiny_yaml

ENTRY = "from ablate.cli.main import main; main()"
TRAINING_STATS = (
    "the training set's statistics (data.norm=speaker, but no speaker was named: "
    "--speaker ID or --enrol FILE for that speaker's statistics)"
)


@pytest.fixture(scope="module")
def speaker_model(tmp_path_factory):
    """A tiny model trained with data.norm=speaker, and files of one speaker, s01."""
    folder = tmp_path_factory.mktemp("speaker-model")
    config = tiny_yaml(folder / "tiny.yaml", "data.norm=speaker")
    main(["train", str(config), "--out", str(folder / "model")])
    files = [u.path for u in scan(make_config(dotlist=TINY).data, get_registry()).utterances]
    return folder / "model", [str(f) for f in files if os.path.basename(f).startswith("s01_")]


def _predict(capsys, *argv) -> list[dict]:
    capsys.readouterr()
    main(["predict", *map(str, argv), "--json"])
    return json.loads(capsys.readouterr().out)


def test_a_file_gets_one_answer_whatever_files_are_beside_it(speaker_model, capsys):
    model, files = speaker_model
    (alone,) = _predict(capsys, model, files[0])
    beside = _predict(capsys, model, *files[:4])
    assert beside[0]["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    assert alone["normalisation"] == beside[0]["normalisation"] == TRAINING_STATS


def test_grouping_by_speaker_is_asked_for_and_said(speaker_model, capsys):
    model, files = speaker_model
    grouped = _predict(capsys, model, *files[:4], "--speaker", "s01")
    assert grouped[0]["normalisation"] == (
        "speaker s01's statistics, from the 4 files given together (data.norm=speaker)"
    )
    (alone,) = _predict(capsys, model, files[0])
    assert grouped[0]["probabilities"] != pytest.approx(alone["probabilities"], abs=1e-6)


def test_enrolment_utterances_give_the_statistics_and_keep_files_apart(
    speaker_model, capsys, tmp_path
):
    model, files = speaker_model
    enrol = [arg for f in files[4:7] for arg in ("--enrol", f)]
    (alone,) = _predict(capsys, model, files[0], *enrol)
    beside = _predict(capsys, model, files[0], files[1], *enrol)
    assert beside[0]["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    assert alone["normalisation"] == (
        "one speaker's statistics, from the 3 --enrol files (data.norm=speaker)"
    )
    main(["predict", str(model), files[0], *enrol])
    assert "normalised by one speaker's statistics" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["predict", str(model), files[0], "--enrol", str(tmp_path)])
    assert capsys.readouterr().err == f"error: {tmp_path}: not-a-regular-file (a directory)\n"


@pytest.fixture(scope="module")
def global_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("global-model")
    config = tiny_yaml(folder / "tiny.yaml", "train.epochs=1")
    main(["train", str(config), "--out", str(folder / "model")])
    return folder / "model"


def _error(capsys, *argv) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        main(["predict", *map(str, argv)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def test_a_speaker_for_a_model_that_does_not_normalise_per_speaker_is_refused(
    global_model, speaker_model, capsys
):
    _, files = speaker_model
    assert _error(capsys, global_model, files[0], "--speaker", "s01") == (
        "error: --speaker: the model normalises by data.norm=global, not per speaker; "
        "drop --speaker"
    )


def _wav(path, samples, rate):
    sf.write(path, np.asarray(samples, dtype=np.float32), rate)
    return path


def test_what_cannot_be_speech_is_one_line_naming_the_file(global_model, tmp_path, capsys):
    one_hz = _wav(tmp_path / "one-hz.wav", [0.5, -0.5], 1)
    assert _error(capsys, global_model, one_hz) == (
        f"error: {one_hz}: bad-sample-rate (1 Hz; expected 4000 to 1000000 Hz)"
    )
    short = _wav(tmp_path / "short.wav", 0.3 * np.sin(np.arange(160) / 3), 16000)
    assert _error(capsys, global_model, short) == (
        f"error: {short}: too-short (0.010 s, under one 1024-sample analysis window)"
    )
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert _error(capsys, global_model, folder) == (
        f"error: {folder}: not-a-regular-file (a directory)"
    )
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    assert _error(capsys, global_model, tmp_path / "loop.wav") == (
        f"error: {tmp_path / 'loop.wav'}: symlink-loop"
    )


def test_a_fifo_is_refused_at_once_not_waited_on(global_model, tmp_path):
    """A real process, so that the old code's hang fails the test instead of hanging it."""
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "predict", str(global_model), str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (2, f"error: {fifo}: not-a-regular-file (a FIFO)\n")
