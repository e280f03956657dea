"""openSMILE eGeMAPSv02 functionals (``data.features=egemaps``) on real RAVDESS files: 88
values per utterance, cached under their own key, trimmed when asked, a one-line error
without the package."""

from __future__ import annotations

import sys

import pytest
import torch

from ablate.config import make_config
from ablate.data.features import load_audio
from ablate.data.inputs import input_shape, make_extractor, stored_shape
from ablate.data.pipeline import load_corpus
from ablate.errors import AblateError
from ablate.plugins import get_registry


def egemaps(*overrides: str):
    return make_config(dotlist=["data.features=egemaps", *overrides]).data


def test_without_opensmile_the_error_is_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile -> ImportError
    with pytest.raises(AblateError) as missing:
        make_extractor(egemaps())
    message = str(missing.value)
    assert message.startswith("data.features=egemaps needs the opensmile package")
    assert 'pip install -e ".[opensmile]"' in message and "\n" not in message


def test_unknown_feature_type_and_utterance_norm_are_refused():
    with pytest.raises(AblateError, match=r"data\.features: expected one of logmel, egemaps"):
        make_extractor(make_config(dotlist=["data.features=mfcc"]).data)
    pytest.importorskip("opensmile")
    with pytest.raises(AblateError, match=r"data\.norm=utterance"):
        make_extractor(egemaps("data.norm=utterance"))


def test_the_model_input_is_88_by_1_whatever_the_image_settings():
    data = egemaps("data.n_mels=64", "data.frames=64", "data.max_frames=160")
    assert input_shape(data) == stored_shape(data) == (88, 1)
    logmel = make_config(dotlist=["data.frames=64", "data.max_frames=160"]).data
    assert input_shape(logmel) == (128, 64) and stored_shape(logmel) == (128, 160)


def test_real_files_give_88_finite_functionals_cached_under_their_own_key(
    ravdess_few, small_data, calls
):
    pytest.importorskip("opensmile")
    data = small_data("ravdess", ravdess_few, "data.features=egemaps")
    corpus = load_corpus(data, registry=get_registry())
    assert corpus.features.shape == (16, 88, 1) and torch.isfinite(corpus.features).all()
    # loudness (the 11th functional, loudness_sma3_amean) is larger for anger than neutral
    names = [u.path.name[6:8] for u in corpus.utterances]
    anger, neutral = names.index("05"), names.index("01")
    assert corpus.features[anger, 10, 0] > corpus.features[neutral, 10, 0]
    calls["n"] = 0
    again = load_corpus(data, registry=get_registry())
    assert calls["n"] == 0 and torch.equal(again.features, corpus.features)
    logmel = load_corpus(small_data("ravdess", ravdess_few), registry=get_registry())
    assert calls["n"] == 16 and logmel.features.shape[1:] == (32, 16)  # another key
    trimmed = load_corpus(small_data("ravdess", ravdess_few, "data.features=egemaps",
                                     "data.trim_db=30"), registry=get_registry())  # fmt: skip
    assert calls["n"] == 32 and not torch.equal(trimmed.features, corpus.features)


def test_the_extractor_measures_the_trimmed_wave(ravdess_few):
    pytest.importorskip("opensmile")
    wave, rate = load_audio(ravdess_few / "Actor_02" / "03-01-04-02-01-01-02.wav")
    plain, trimmed = make_extractor(egemaps()), make_extractor(egemaps("data.trim_db=30"))
    assert torch.equal(trimmed(wave, rate), plain(trimmed.prepare(wave, rate), 16000))
    assert not torch.equal(trimmed(wave, rate), plain(wave, rate))
