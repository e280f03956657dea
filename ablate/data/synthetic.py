"""The embedded default corpus: synthetic "speech" whose classes differ in time-frequency
structure, some of them only in temporal order.

Each utterance is a harmonic tone (a voice-like source) shaped by three speaker-specific
formant resonances, plus noise at 30 dB SNR. Speakers differ in base pitch and formant
scale. The classes:

- ``glide_up`` / ``glide_down``: the pitch glides up or down by about an octave; the same
  frequencies are visited, in opposite order.
- ``burst_early`` / ``burst_late``: a steady tone with an energy burst in the first or the
  last third; same spectrum, same burst shape, opposite position.
- ``tilt_high`` / ``tilt_low``: a steady tone with a bright (flat) or dark (steep) spectral
  tilt; these differ in every frame.

The two pairs are *order-only*: their time-averaged spectra have the same distribution,
so a model without positional information cannot tell them apart; the tilt pair is the
control any model should separate. Generation is deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from ablate.data.cache import key_of
from ablate.files import atomic_write

CLASSES = ("glide_up", "glide_down", "burst_early", "burst_late", "tilt_high", "tilt_low")
#: Pairs of classes that differ only in temporal order.
ORDER_PAIRS = (("glide_up", "glide_down"), ("burst_early", "burst_late"))
GENERATOR_VERSION = 1
_FORMANTS = np.array([500.0, 1500.0, 2500.0])
_DONE = "corpus.json"


def speaker_voice(index: int, speakers: int) -> tuple[float, float]:
    """Base pitch (Hz), spread low to high, and a formant scale drawn per speaker."""
    position = index / max(1, speakers - 1)
    scale = np.random.default_rng([GENERATOR_VERSION, index]).uniform(0.85, 1.2)
    return 100.0 + 140.0 * position, float(scale)


def synthesize(
    label: str, f0: float, formant_scale: float, seconds: float, sample_rate: int, rng
) -> np.ndarray:
    """One utterance of class ``label`` for a speaker, as float32 samples in [-1, 1]."""
    n = int(seconds * rng.uniform(0.9, 1.0) * sample_rate)
    t = np.arange(n) / sample_rate
    duration = n / sample_rate
    f0 = f0 * rng.uniform(0.93, 1.07)
    tilt, envelope = 1.2, np.full(n, 0.6)
    if label in ("glide_up", "glide_down"):
        span = rng.uniform(0.8, 1.1)
        octaves = np.linspace(-span / 2, span / 2, n)
        pitch = f0 * 2.0 ** (octaves if label == "glide_up" else octaves[::-1])
    else:
        pitch = f0 * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)))
    if label in ("burst_early", "burst_late"):
        where = rng.uniform(0.15, 0.3) if label == "burst_early" else rng.uniform(0.7, 0.85)
        width = rng.uniform(0.08, 0.12) * duration
        envelope = 0.15 + np.exp(-0.5 * ((t - where * duration) / width) ** 2)
    elif label in ("tilt_high", "tilt_low"):
        tilt = rng.uniform(0.3, 0.6) if label == "tilt_high" else rng.uniform(2.0, 2.6)
    fade = np.minimum(1.0, np.minimum(t, duration - t) / 0.02)
    phase = (2 * np.pi * np.cumsum(pitch) / sample_rate).astype(np.float32)
    top = max(1, min(40, int(5000 / pitch.max())))
    harmonics = np.arange(1, top + 1, dtype=np.float32)[:, None]
    # Harmonic amplitudes change slowly: compute them every 5 ms, interpolate linearly.
    step = sample_rate // 200
    control = np.minimum(np.arange(0, n + step, step), n - 1)
    frequency = harmonics * pitch[None, control]
    formants = _FORMANTS * formant_scale
    resonance = np.exp(-0.5 * ((frequency[..., None] - formants) / (120 * formant_scale)) ** 2)
    coarse = (harmonics**-tilt * (0.3 + resonance.sum(-1))).astype(np.float32)
    position = np.arange(n) / step
    left = position.astype(np.int64)
    weight = (position - left).astype(np.float32)
    amplitude = coarse[:, left] * (1 - weight) + coarse[:, left + 1] * weight
    wave = (amplitude * np.sin(harmonics * phase[None, :])).sum(0) * envelope * fade
    wave /= np.sqrt(np.mean(wave**2)) + 1e-12
    wave += rng.normal(0, 10 ** (-30 / 20), n)
    wave *= rng.uniform(0.4, 0.9) / np.abs(wave).max()
    return wave.astype(np.float32)


def generate(
    folder: Path,
    speakers: int,
    per_class: int,
    classes: int,
    seconds: float,
    sample_rate: int,
    seed: int,
) -> Path:
    """Write the corpus as ``<folder>/<key>/sNN_<class>_NNN.wav`` unless already complete.
    (Its defaults are the ``synthetic`` dataset plugin's parameters.)"""
    params = {
        "speakers": speakers,
        "per_class": per_class,
        "classes": classes,
        "seconds": seconds,
        "sample_rate": sample_rate,
        "seed": seed,
        "version": GENERATOR_VERSION,
    }
    target = folder / key_of("synthetic", params)[:16]
    if (target / _DONE).is_file():
        return target
    for s in range(speakers):
        f0, scale = speaker_voice(s, speakers)
        for c, label in enumerate(CLASSES[:classes]):
            for i in range(per_class):
                rng = np.random.default_rng([seed, s, c, i])
                wave = synthesize(label, f0, scale, seconds, sample_rate, rng)
                path = target / f"s{s + 1:02d}_{label}_{i:03d}.wav"
                atomic_write(path, lambda temp, w=wave: sf.write(temp, w, sample_rate, "PCM_16"))
    text = json.dumps(params, indent=2)
    atomic_write(target / _DONE, lambda temp: temp.write_text(text))
    return target
