"""Energy-based trimming of leading and trailing silence (``data.trim_db``).

Acted corpora record each utterance whole: a RAVDESS file holds about a second of
near-silence before the speech. With ``trim_db`` set, the waveform keeps the span from the
first to the last frame whose RMS level is within ``trim_db`` decibels of the loudest
frame's (librosa's ``effects.trim`` rule, on 64 ms frames every 16 ms). Measured against
the file's own loudest frame, a file is never trimmed to nothing: at least the loudest
frame survives, and at least ``min_samples`` (one analysis window) when the file has them.
Digital silence never gets here: decoding skips it as ``silent``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ablate.errors import AblateError

#: analysis frame and hop of the level measurement, in seconds
FRAME_SECONDS = 0.064
HOP_SECONDS = 0.016
#: bumped whenever trimming changes what it keeps (part of the feature cache key)
TRIM_VERSION = 1
_EPS = 1e-10


def trim_db(data) -> float:
    """``data.trim_db`` as a float; 0 when unset or 0 (trimming off)."""
    value = data.get("trim_db")
    if value is None:
        return 0.0
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise AblateError(f"data.trim_db: expected dB > 0 (or 0 or null: off), got {value}")
    return value


def trim(wave: torch.Tensor, sample_rate: int, top_db: float, min_samples: int = 0) -> torch.Tensor:
    """``wave`` (1-D) without its leading and trailing frames quieter than ``top_db`` below
    the loudest frame; kept at ``min_samples`` or more (centred on the kept span) when the
    wave is that long."""
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    hop = max(1, round(HOP_SECONDS * sample_rate))
    total = wave.shape[-1]
    if total <= frame:
        return wave
    count = -(-(total - frame) // hop) + 1
    padded = F.pad(wave, (0, (count - 1) * hop + frame - total))
    power = padded.unfold(-1, frame, hop).double().pow(2).mean(-1)
    level = 10.0 * torch.log10(power + _EPS)
    loud = torch.nonzero(level >= level.max() - top_db).flatten()
    start = int(loud[0]) * hop
    end = min(total, int(loud[-1]) * hop + frame)
    short = min(min_samples, total) - (end - start)
    if short > 0:
        start = max(0, start - short // 2)
        end = min(total, start + min(min_samples, total))
        start = end - min(min_samples, total)
    return wave[..., start:end]
