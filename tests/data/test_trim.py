"""Trimming leading and trailing silence (``data.trim_db``): what it keeps, that it never
keeps nothing, its place in the cache key and the study identity, real RAVDESS files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from ablate.config import identity, make_config
from ablate.data.features import FeatureExtractor, load_audio
from ablate.data.pipeline import load_corpus
from ablate.data.trim import trim
from ablate.errors import AblateError
from ablate.plugins import get_registry

RATE = 16000


def speech_in_silence(lead: float, speech: float, tail: float, floor: float = 1e-4):
    """A 220 Hz tone between stretches of faint noise (``floor`` RMS)."""
    rng = np.random.default_rng(0)
    n = int((lead + speech + tail) * RATE)
    wave = floor * rng.standard_normal(n)
    start, stop = int(lead * RATE), int((lead + speech) * RATE)
    t = np.arange(stop - start) / RATE
    wave[start:stop] += 0.5 * np.sin(2 * np.pi * 220 * t)
    return torch.from_numpy(wave.astype(np.float32)), start, stop


def test_trim_keeps_the_loud_span_and_drops_the_silence_around_it():
    wave, start, _ = speech_in_silence(1.0, 0.5, 0.7)
    kept = trim(wave, RATE, 30.0, 1024)
    assert 0.5 * RATE <= kept.shape[-1] <= 0.5 * RATE + 2 * 0.064 * RATE
    # the kept span is the speech: it starts within one frame of the tone's onset
    offset = int(torch.nonzero(torch.all(wave.unfold(0, len(kept), 1) == kept, dim=1))[0])
    assert start - 0.064 * RATE <= offset <= start


def test_a_lone_click_keeps_one_analysis_window_never_nothing():
    wave = torch.full((2 * RATE,), 1e-4)
    wave[RATE : RATE + 80] = 0.5  # 5 ms
    kept = trim(wave, RATE, 30.0, 1024)
    assert kept.shape[-1] >= 1024 and kept.abs().max() == 0.5
    assert trim(wave[:500], RATE, 30.0, 1024).shape[-1] == 500  # shorter than a frame: as is


def test_steady_sound_is_not_trimmed():
    wave, _, _ = speech_in_silence(0.0, 1.0, 0.0)
    assert torch.equal(trim(wave, RATE, 30.0, 1024), wave)


def test_digital_silence_is_skipped_with_its_reason_not_trimmed_to_nothing(
    tmp_path, small_data, write_wav
):
    write_wav(tmp_path / "happy" / "a.wav")
    write_wav(tmp_path / "sad" / "b.wav")
    sf.write(tmp_path / "sad" / "quiet.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.warns(UserWarning, match=r"skipped 1 files \(1 silent\)"):
        corpus = load_corpus(
            small_data("folder", tmp_path, "data.trim_db=30"), registry=get_registry()
        )
    assert len(corpus) == 2 and corpus.skipped[0][1] == "silent"


def test_trim_is_part_of_the_feature_settings_only_when_set():
    def settings(*overrides):
        return FeatureExtractor(make_config(dotlist=list(overrides)).data).settings()

    plain = settings()
    assert "trim_db" not in plain and settings("data.trim_db=0") == plain
    trimmed = settings("data.trim_db=30")
    assert trimmed["trim_db"] == 30.0 and trimmed != settings("data.trim_db=40")


def test_an_unset_trim_leaves_every_existing_study_identity_as_it_was():
    assert not any(k.startswith(("data.trim_db", "data.features")) for k in identity(make_config()))
    assert identity(make_config(dotlist=["data.trim_db=30"]))["data.trim_db"] == 30.0


def test_a_negative_trim_is_one_line():
    with pytest.raises(AblateError, match=r"data\.trim_db"):
        FeatureExtractor(make_config(dotlist=["data.trim_db=-3"]).data)


def test_real_ravdess_speech_moves_to_the_start_of_the_image(ravdess_few):
    """A RAVDESS file starts with about a second of near-silence: trimmed, its first
    frames carry speech."""
    path = ravdess_few / "Actor_01" / "03-01-05-01-02-01-01.wav"
    wave, rate = load_audio(path)
    base = ["data.n_mels=64", "data.frames=64", "data.hop_length=512"]
    plain = FeatureExtractor(make_config(dotlist=base).data)
    trimmed = FeatureExtractor(make_config(dotlist=[*base, "data.trim_db=30"]).data)
    assert trimmed.prepare(wave, rate).shape[-1] < 0.75 * wave.shape[-1]
    head_plain, head_trimmed = plain(wave, rate)[:, :8].mean(), trimmed(wave, rate)[:, :8].mean()
    assert head_trimmed > head_plain + 3.0  # natural-log power: about 13 dB louder
