"""Augmentations for training folds: time shift, noise, speed (wave); SpecAugment and
frame shift (feature); mixup (batch). Each draws its randomness from the generator it is given,
so a run is reproducible for a seed.

Each subclasses the base of its stage in :mod:`ablate.contracts`, which gives the call
signature: ``wave(wave, sample_rate, generator)``, ``feature(x, generator)``,
``batch(x, y, generator) -> (x, y)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from ablate import hookimpl
from ablate.contracts import BatchAugment, FeatureAugment, WaveAugment
from ablate.errors import AblateError


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class TimeShift(WaveAugment):
    """Shift the waveform by up to ``max_seconds`` either way, filling with silence."""

    def __init__(self, _context: None, max_seconds: float = 0.2):
        if max_seconds < 0:
            raise AblateError("data.augment_args.time_shift.max_seconds: must be >= 0")
        self.max_seconds = max_seconds

    def __call__(self, wave: torch.Tensor, sample_rate: int, generator: torch.Generator):
        limit = int(self.max_seconds * sample_rate)
        shift = int(torch.randint(-limit, limit + 1, (), generator=generator)) if limit else 0
        out = torch.zeros_like(wave)
        if shift >= 0:
            out[shift:] = wave[: wave.numel() - shift]
        else:
            out[:shift] = wave[-shift:]
        return out


class Noise(WaveAugment):
    """Add white Gaussian noise at ``snr_db`` dB below the utterance's power."""

    def __init__(self, _context: None, snr_db: float = 20.0):
        self.snr_db = snr_db

    def __call__(self, wave: torch.Tensor, sample_rate: int, generator: torch.Generator):
        power = wave.pow(2).mean()
        noise = torch.randn(wave.shape, generator=generator)
        return wave + noise * torch.sqrt(power / 10 ** (self.snr_db / 10))


class Speed(WaveAugment):
    """Speed perturbation: resample by a factor in [low, high] (steps of 0.01), which
    changes tempo and pitch together, as in Kaldi-style speed perturbation."""

    def __init__(self, _context: None, low: float = 0.9, high: float = 1.1):
        if not 0.5 <= low <= high <= 2.0:
            raise AblateError(
                f"data.augment_args.speed: need 0.5 <= low <= high <= 2, got {low}, {high}"
            )
        self.low, self.high = low, high

    def __call__(self, wave: torch.Tensor, sample_rate: int, generator: torch.Generator):
        factor = round(_uniform(generator, self.low, self.high) * 100)
        if factor == 100:
            return wave
        return torchaudio.functional.resample(wave, factor, 100)


class SpecAugment(FeatureAugment):
    """Zero ``freq_masks`` Mel bands and ``time_masks`` frame spans per example (on
    normalised features, so 0 is the training mean)."""

    def __init__(
        self,
        _context: None,
        freq_masks: int = 2,
        freq_width: int = 16,
        time_masks: int = 2,
        time_width: int = 16,
    ):
        self.freq = (freq_masks, freq_width)
        self.time = (time_masks, time_width)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = x.clone()
        for sample in x:
            for axis, (count, width) in ((-2, self.freq), (-1, self.time)):
                size = sample.shape[axis]
                for _ in range(count):
                    w = int(torch.randint(0, min(width, size) + 1, (), generator=generator))
                    start = int(torch.randint(0, size - w + 1, (), generator=generator))
                    sample.narrow(axis, start, w).zero_()
        return x


class FrameShift(FeatureAugment):
    """Shift each example by up to ``max_frames`` frames either way (a random time shift
    on the features, drawn per example every step, unlike the cached wave-stage
    ``time_shift``); the frames shifted in are the example's quietest value per Mel bin."""

    def __init__(self, _context: None, max_frames: int = 8):
        if max_frames < 0:
            raise AblateError("data.augment_args.frame_shift.max_frames: must be >= 0")
        self.max_frames = int(max_frames)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.max_frames == 0:
            return x
        b, w = x.shape[0], x.shape[-1]
        shift = torch.randint(-self.max_frames, self.max_frames + 1, (b,), generator=generator)
        source = torch.arange(w)[None, :] - shift[:, None]  # out[t] = x[t - shift]
        inside = ((source >= 0) & (source < w)).to(x.device)
        index = source.clamp(0, w - 1).to(x.device)[:, None, None, :].expand_as(x)
        quiet = x.amin(dim=-1, keepdim=True)
        return torch.where(inside[:, None, None, :], x.gather(-1, index), quiet)


class Mixup(BatchAugment):
    """Mix each example and its target with a shuffled partner, weight ~ Beta(alpha, alpha)."""

    def __init__(self, _context: None, alpha: float = 0.2):
        if alpha <= 0:
            raise AblateError(f"data.augment_args.mixup.alpha: must be > 0, got {alpha}")
        self.alpha = alpha

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        order = torch.randperm(x.shape[0], generator=generator)
        return lam * x + (1 - lam) * x[order], lam * y + (1 - lam) * y[order]


@hookimpl
def register_augments(register):
    register("time_shift", TimeShift, "Shift the waveform by up to `max_seconds` (wave)")
    register("noise", Noise, "White noise at `snr_db` dB SNR (wave)")
    register("speed", Speed, "Speed perturbation by a factor in [`low`, `high`] (wave)")
    register("specaugment", SpecAugment, "Time and frequency masks (feature)")
    register("frame_shift", FrameShift, "Shift features by up to `max_frames` frames (feature)")
    register("mixup", Mixup, "Mix examples and targets, weight ~ Beta(`alpha`) (batch)")
