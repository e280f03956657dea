"""Decoding (every bad-file kind), log-Mel extraction, fixed width, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from ablate.config import make_config
from ablate.data.features import (
    LOG_FLOOR,
    AudioError,
    FeatureExtractor,
    fit_normalizer,
    load_audio,
)
from ablate.errors import AblateError


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def make_bad(kind: str, path):
    """Write one file of a bad kind; the reason load_audio must give for it."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "zero-length":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif kind == "silent":
        sf.write(path, np.zeros(4000, dtype=np.float32), 16000)
    elif kind == "corrupt":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    elif kind == "not-audio":
        path.write_text("<html>this is a web page saved as .wav</html>" * 5)
    elif kind == "lfs-pointer":
        path.write_text(
            "version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
            "size 88244\n"
        )
    elif kind == "non-finite":
        wave = tone(0.1)
        wave[10] = np.nan
        sf.write(path, wave, 16000, subtype="FLOAT")
    return path


BAD_KINDS = ["empty", "zero-length", "silent", "corrupt", "not-audio", "lfs-pointer", "non-finite"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_every_bad_file_kind_has_its_reason(tmp_path, kind):
    path = make_bad(kind, tmp_path / "x.wav")
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert caught.value.reason == kind
    assert isinstance(caught.value, AblateError)


def test_load_audio_mixes_down_and_keeps_rate(tmp_path):
    stereo = tone(0.2, 22050, channels=2)
    stereo[:, 1] = 0.0
    sf.write(tmp_path / "s.wav", stereo, 22050)
    wave, rate = load_audio(tmp_path / "s.wav")
    assert rate == 22050 and wave.ndim == 1 and wave.dtype == torch.float32
    assert torch.allclose(wave, torch.from_numpy(stereo[:, 0] / 2), atol=1e-4)


def extractor(*overrides: str) -> FeatureExtractor:
    base = ["data.n_mels=32", "data.frames=20", "data.n_fft=256", "data.hop_length=128"]
    return FeatureExtractor(make_config(dotlist=[*base, *overrides]).data)


def test_pad_keeps_speech_left_and_pads_with_silence_right():
    short = torch.from_numpy(tone(0.05))  # 800 samples -> 7 frames
    image = extractor()(short, 16000)
    assert image.shape == (32, 20) and image.dtype == torch.float32
    assert torch.all(image[:, 7:] == float(np.log(LOG_FLOOR)))
    assert image[:, :5].max() > np.log(LOG_FLOOR) + 5


def test_long_input_is_cropped_and_resize_keeps_everything():
    long = torch.from_numpy(tone(1.0))
    cropped = extractor()(long, 16000)
    assert cropped.shape == (32, 20)
    resized = extractor("data.fit=resize")(long, 16000)
    assert resized.shape == (32, 20)
    with pytest.raises(AblateError, match=r"data\.fit"):
        extractor("data.fit=stretch")


def test_resampling_makes_rates_comparable():
    a = extractor()(torch.from_numpy(tone(0.3, 16000, 440.0)), 16000)
    b = extractor()(torch.from_numpy(tone(0.3, 22050, 440.0)), 22050)
    assert a.argmax(0)[3:10].tolist() == b.argmax(0)[3:10].tolist()


def test_settings_change_with_every_feature_parameter():
    base = extractor().settings()
    for override in (
        "data.n_fft=512",
        "data.f_min=50.0",
        "data.fit=resize",
        "data.sample_rate=8000",
    ):
        assert extractor(override).settings() != base
    assert extractor().settings() == base


def test_fit_normalizer_is_per_mel_bin():
    features = torch.randn(10, 4, 6) * torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None] + 5
    mean, std = fit_normalizer(features)
    assert mean.shape == std.shape == (4, 1)
    normalised = (features - mean) / std
    assert torch.allclose(normalised.mean(dim=(0, 2)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(normalised.std(dim=(0, 2)), torch.ones(4), atol=1e-4)
    with pytest.raises(AblateError):
        fit_normalizer(torch.zeros(0, 4, 6))


def test_real_emodb_files_extract_to_128_by_128(emodb_root):
    full = FeatureExtractor(make_config().data)
    for path in sorted((emodb_root / "wav").glob("*.wav"))[:4]:
        wave, rate = load_audio(path)
        assert rate == 22050
        image = full(wave, rate)
        assert image.shape == (128, 128)
        assert torch.isfinite(image).all()
        assert image.std() > 1.0
