"""Corpus files that used to break a whole load or be thrown away: too short to analyse,
unreadable, named in a non-UTF-8 encoding, anti-phase stereo. Real files, real decoding,
the real pipeline and CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from study_helpers import drop_file_permission_override

from ablate.data.features import AudioError, load_audio
from ablate.data.pipeline import load_corpus
from ablate.errors import AblateError
from ablate.plugins import get_registry

RATE = 16000
ENTRY = "from ablate.cli.main import main; main()"
SMALL = ["data.n_mels=16", "data.frames=8", "data.workers=1"]


def _tone(samples: int, level: float = 0.5) -> np.ndarray:
    return (level * np.sin(2 * np.pi * 220 * np.arange(samples) / RATE)).astype(np.float32)


def _corpus(root, names=("happy", "sad")) -> None:
    for label in names:
        for i in range(2):
            path = root / label / "spk1" / f"ok{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _tone(RATE // 2, 0.3 + 0.1 * i), RATE)


def test_files_shorter_than_one_window_are_skipped_as_too_short(tmp_path, small_data):
    """A 10 ms or 1-sample file used to fail the whole load (``padding (512, 512) ...``)."""
    root = tmp_path / "corpus"
    _corpus(root)
    sf.write(root / "sad" / "spk1" / "ten-ms.wav", _tone(RATE // 100), RATE)
    sf.write(root / "sad" / "spk1" / "one-sample.wav", np.array([0.5], np.float32), RATE)
    sf.write(root / "happy" / "spk1" / "one-window.wav", _tone(1024), RATE)  # kept: just enough
    data = small_data("folder", root, "data.n_fft=1024", "data.hop_length=256")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(data, progress=False, registry=get_registry())
    assert len(corpus) == 5 and torch.isfinite(corpus.features).all()
    assert corpus.skipped_counts() == {"too-short": 2}
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("skipped 2 files (2 too-short); first: ")


def _ablate_data(root, cache, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", ENTRY, "data", "folder", str(root), *SMALL,
            f"data.cache_dir={cache}", *extra]  # fmt: skip
    privileged = os.geteuid() == 0
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=drop_file_permission_override if privileged else None,
    )


def test_a_file_without_read_permission_is_skipped_as_unreadable(tmp_path):
    """It used to fail the whole load with a PermissionError traceback (in file_hash)."""
    root = tmp_path / "corpus"
    _corpus(root)
    locked = root / "sad" / "spk1" / "locked.wav"
    sf.write(locked, _tone(RATE // 2), RATE)
    locked.chmod(0)
    done = _ablate_data(root, tmp_path / "cache", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout)
    assert info["utterances"] == 4 and info["skipped"] == {"unreadable": 1}
    assert info["skipped_files"] == [[str(locked), "unreadable"]]
    strict = _ablate_data(root, tmp_path / "cache", "data.strict=true")
    assert strict.returncode == 2
    assert strict.stderr.strip() == (
        f"error: data.strict: skipped 1 files (1 unreadable); first: {locked} (unreadable)"
    )


def test_non_utf8_file_and_folder_names_decode_and_are_used(tmp_path, small_data):
    """Latin-1 names (``fröhlich``) were skipped as ``corrupt``: libsndfile got a str it
    could not encode. Labels and speakers keep the undecodable bytes as ``\\xNN``."""
    root = tmp_path / "corpus"
    _corpus(root, names=("happy",))
    for speaker in (b"s1", b"s\xe92"):
        folder = os.fsencode(root) + b"/fr\xf6hlich/" + speaker
        os.makedirs(folder)
        for i in range(2):
            sf.write(folder + b"/u%d\xe9.wav" % i, _tone(RATE // 2, 0.2 + 0.1 * i), RATE)
    corpus = load_corpus(small_data("folder", root), progress=False, registry=get_registry())
    assert corpus.skipped == [] and len(corpus) == 6
    assert corpus.label_names == ["fr\\xf6hlich", "happy"]
    assert sorted(set(corpus.speakers)) == ["s1", "s\\xe92", "spk1"]
    done = _ablate_data(root, tmp_path / "cache", "--json")  # the CLI, as a person runs it
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["labels"] == {"fr\\xf6hlich": 4, "happy": 2}


def test_a_manifest_in_latin_1_finds_its_files(tmp_path, small_data):
    root = tmp_path / "corpus"
    _corpus(root)
    name = os.fsencode(root) + b"/caf\xe9.wav"
    sf.write(name, _tone(RATE // 2), RATE)
    rows = b"path,label,speaker\ncaf\xe9.wav,fr\xf6hlich,s\xe9\n"
    rows += b"".join(b"%s/spk1/ok%d.wav,%s,spk1\n" % (lab, i, lab) for lab in (b"happy", b"sad")
                     for i in range(2))  # fmt: skip
    (root / "list.csv").write_bytes(rows)
    data = small_data("folder", root, "data.dataset_args.manifest=list.csv")
    corpus = load_corpus(data, progress=False, registry=get_registry())
    assert corpus.skipped == [] and len(corpus) == 5
    assert corpus.label_names == ["fr\\xf6hlich", "happy", "sad"]


# (case, left, right, the channel ablate keeps: "left", "right" or "mean")
STEREO = [
    ("anti-phase", _tone(8000), -_tone(8000), "left"),
    ("anti-phase, right louder", -_tone(8000, 0.3), _tone(8000, 0.4), "right"),
    ("in phase", _tone(8000), _tone(8000, 0.3), "mean"),
    ("one channel silent", np.zeros(8000, np.float32), _tone(8000), "mean"),
    (
        "uncorrelated noise",
        np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32),
        np.random.default_rng(1).normal(0, 0.1, 8000).astype(np.float32),
        "mean",
    ),
]


@pytest.mark.parametrize(
    ("left", "right", "kept"), [c[1:] for c in STEREO], ids=[c[0] for c in STEREO]
)
def test_a_stereo_downmix_never_cancels_the_signal(tmp_path, left, right, kept):
    """Averaging left = -right gave digital silence, and the file was skipped as silent."""
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    wave, _ = load_audio(path)
    expected = {"left": left, "right": right, "mean": (left + right) / 2}[kept]
    np.testing.assert_allclose(wave.numpy(), expected, atol=1e-6)


def test_anti_phase_stereo_is_not_called_silent(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([_tone(8000), -_tone(8000)], axis=1), RATE, subtype="PCM_16")
    try:
        wave, _ = load_audio(path)
    except AudioError as exc:
        pytest.fail(f"skipped as {exc.reason}")
    assert wave.abs().max() > 0.4


def test_files_that_vanish_after_the_scan_are_counted_as_missing(tmp_path, small_data, monkeypatch):
    """A corpus on a network share or a folder deleted while ablate runs: files listed by
    the scan are gone when they are read (one, then all of them)."""
    import ablate.data.pipeline as pipeline

    root = tmp_path / "corpus"
    _corpus(root)
    real_scan = pipeline.scan
    gone = []

    def scan_then_delete(data, registry=None):
        result = real_scan(data, registry)
        for path in gone:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return result

    monkeypatch.setattr(pipeline, "scan", scan_then_delete)
    gone[:] = [root / "sad" / "spk1" / "ok0.wav"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        corpus = load_corpus(small_data("folder", root), progress=False, registry=get_registry())
    assert len(corpus) == 3 and corpus.skipped_counts() == {"missing-file": 1}
    gone[:] = [root]
    with warnings.catch_warnings(record=True), pytest.raises(AblateError) as caught:
        warnings.simplefilter("always")
        load_corpus(small_data("folder", root), progress=False, registry=get_registry())
    assert str(caught.value) == "dataset 'folder': every file was skipped (3 missing-file)"
    with pytest.raises(AudioError) as caught:
        load_audio(root / "nope.wav")
    assert str(caught.value) == f"{root / 'nope.wav'}: missing-file"
