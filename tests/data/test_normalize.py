"""data.norm: global, per-utterance and per-speaker statistics; padding left out."""

from __future__ import annotations

import pytest
import torch

from ablate.data.normalize import PAD, lengths, normalise, speaker_stats
from ablate.errors import AblateError


def _features(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, 10, generator=g) * 3 + 5
    x[0, :, 7:] = PAD  # utterance 0 has 7 frames of speech
    return x


def test_lengths_count_frames_before_the_padding():
    assert lengths(_features()).tolist() == [7, 10, 10, 10, 10, 10]


def test_per_utterance_gives_each_utterance_zero_mean_unit_std_per_bin():
    x = normalise(_features(), "utterance")
    speech = x[0, :, :7]
    torch.testing.assert_close(speech.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(speech.std(-1, unbiased=False), torch.ones(4), atol=1e-4, rtol=0)
    assert (x[0, :, 7:] == 0).all()  # padding at the normalised mean


def test_per_speaker_uses_each_speakers_own_statistics():
    raw = _features()
    raw[3:] += 100.0  # speaker b records 100 log units louder
    speakers = ["a", "a", "a", "b", "b", "b"]
    x = normalise(raw, "speaker", speakers=speakers)
    for rows in (slice(1, 3), slice(3, 6)):
        assert x[rows].mean().abs() < 0.5  # the offset is gone for both speakers
    # statistics gathered once (e.g. over the whole corpus) give the same result
    stats = speaker_stats(raw, speakers)
    torch.testing.assert_close(normalise(raw, "speaker", speakers=speakers, stats=stats), x)
    # a speaker's statistics do not depend on other speakers' utterances
    alone = normalise(raw[3:], "speaker", speakers=speakers[3:])
    torch.testing.assert_close(alone, x[3:])


def test_global_is_unchanged_training_fold_statistics():
    raw = _features()
    mean, std = raw.mean(dim=(0, 2))[:, None], raw.std(dim=(0, 2))[:, None]
    torch.testing.assert_close(normalise(raw, "global", mean=mean, std=std), (raw - mean) / std)


def test_bad_norm_and_missing_speakers_are_errors():
    with pytest.raises(AblateError, match=r"data\.norm: expected one of global, utterance"):
        normalise(_features(), "cepstral")
    with pytest.raises(AblateError, match="needs its speaker"):
        normalise(_features(), "speaker")
