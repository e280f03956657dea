"""Feature settings that contradict each other are one line before anything runs:
`data.n_mels=100000` with `data.n_fft` 1024 (513 FFT bins) was accepted and extraction
grew to 20 GB until the kernel killed it; a window longer than the FFT, a band above
Nyquist, `max_frames` below `frames` (silently ignored) alike."""

from __future__ import annotations

import pytest
from study_helpers import study_error

from ablate.cli.main import main
from ablate.plugins import get_registry

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"

# (case, overrides, the one-line error after the file name)
CASES = [
    ("more Mel bands than FFT bins", ["data.n_mels=100000"],
     "data.n_mels: 100000 is more than the 513 FFT bins of data.n_fft 1024 (at most "
     "n_fft // 2 + 1); lower data.n_mels or raise data.n_fft"),
    ("an FFT too small for the Mel bands", ["data.n_fft=128"],
     "data.n_mels: 128 is more than the 65 FFT bins of data.n_fft 128 (at most "
     "n_fft // 2 + 1); lower data.n_mels or raise data.n_fft"),
    ("a window longer than the FFT", ["data.win_length=2048"],
     "data.win_length: 2048 is longer than data.n_fft 1024 (the window must fit the FFT)"),
    ("f_max above Nyquist", ["data.f_max=9000"],
     "data.f_max: 9000.0 is above 8000 Hz, half of data.sample_rate 16000 "
     "(the highest frequency it holds)"),
    ("f_min at f_max", ["data.f_min=4000", "data.f_max=4000"],
     "data.f_min: 4000.0 must be below data.f_max (4000 Hz)"),
    ("f_min above Nyquist", ["data.f_min=8000"],
     "data.f_min: 8000.0 must be below data.f_max (8000 Hz, half of data.sample_rate)"),
    ("max_frames below frames", ["data.max_frames=64"],
     "data.max_frames: 64 is below data.frames 128; give 0 (keep data.frames) or at least "
     "data.frames (keep longer utterances)"),
    ("max_frames with a resize fit", ["data.max_frames=256", "data.fit=resize"],
     "data.max_frames: sliding windows need data.fit=pad, not 'resize' "
     "(data.max_frames 256 > data.frames 128)"),
]  # fmt: skip
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("overrides", "message"), [c[1:] for c in CASES], ids=IDS)
def test_ablate_run_refuses_contradicting_feature_settings(tmp_path, capsys, overrides, message):
    err = study_error(tmp_path, "name: t\n" + SPACE, capsys, *overrides)
    assert err == f"error: study.yaml: {message}\n"


@pytest.mark.parametrize(("overrides", "message"), [c[1:] for c in CASES], ids=IDS)
def test_ablate_train_and_data_refuse_them_before_extracting(tmp_path, capsys, overrides, message):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 1}\n")
    with pytest.raises(SystemExit) as caught:
        main(["train", str(config), *overrides, "--out", str(tmp_path / "m")])
    assert caught.value.code == 2
    assert capsys.readouterr().err == f"error: {config}: {message}\n"
    with pytest.raises(SystemExit) as caught:
        main(["data", "synthetic", *overrides, f"data.cache_dir={tmp_path / 'cache'}"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "m").exists()


def test_swept_feature_settings_are_checked_together(tmp_path):
    """Each value fits the base config alone (n_mels 256 beside n_fft 1024, n_fft 256
    beside n_mels 128); together they would give empty Mel bands in one arm."""
    from ablate.errors import AblateError
    from ablate.studies.spec import load_study

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nspace:\n  data.n_mels: {choice: [64, 256]}\n  data.n_fft: {choice: [1024, 256]}\n"
    )
    with pytest.raises(AblateError) as caught:
        load_study(path, registry=get_registry())
    assert str(caught.value) == (
        "s.yaml: space.data.n_mels: 256 is more than the 129 FFT bins of data.n_fft 256 (at "
        "most n_fft // 2 + 1); lower data.n_mels or raise data.n_fft "
        "(at data.n_mels=256, data.n_fft=256)"
    )
