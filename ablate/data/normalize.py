"""Input normalisation (``data.norm``): global training-fold, per-utterance or per-speaker.

- ``global``: per-Mel-bin mean and std of the training fold (ablate's original choice).
- ``utterance``: each utterance by the per-bin mean and std of its own frames.
- ``speaker``: each speaker by the per-bin mean and std of all of that speaker's
  utterances, test speakers included. This reads the test speaker's audio but never a test
  label: the statistics are those any deployed system can gather from a speaker's
  unlabelled speech before classifying it (speaker-level CMVN, common in
  speaker-independent SER). It removes the speaker's vocal-tract and recording level, the
  largest nuisance factor across speakers in corpora with a few speakers.

Padding frames (see :func:`lengths`) are left out of the per-utterance and per-speaker
statistics and set to 0 (the normalised mean); ``global`` is unchanged from ablate 0.1
(statistics and padding as they come), so older results and saved models stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ablate.data.features import LOG_FLOOR
from ablate.errors import AblateError

NORMS = ("global", "utterance", "speaker")
#: the value :class:`~ablate.data.features.FeatureExtractor` pads short utterances with
PAD = float(np.log(LOG_FLOOR))
_MIN_STD = 1e-5


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise AblateError(f"data.norm: expected one of {', '.join(NORMS)}, got {norm!r}")
    return norm


def lengths(features: torch.Tensor) -> torch.Tensor:
    """Frames of each ``(N, n_mels, frames)`` image before its right padding (at least 1)."""
    speech = (features != PAD).any(dim=1)  # (N, frames)
    last = torch.where(speech, torch.arange(features.shape[-1]), -1).amax(dim=1)
    return (last + 1).clamp_min(1)


def _stats(features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and std ``(n_mels, 1)`` over the unpadded frames of ``features``."""
    mask = (torch.arange(features.shape[-1])[None, :] < frames[:, None]).float()[:, None, :]
    count = mask.sum().clamp_min(1.0)
    mean = (features * mask).sum(dim=(0, 2)) / count
    var = (((features - mean[None, :, None]) ** 2) * mask).sum(dim=(0, 2)) / count
    return mean[:, None], var.sqrt().clamp_min(_MIN_STD)[:, None]


Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]


def speaker_stats(features: torch.Tensor, speakers: Sequence[str]) -> Stats:
    """``{speaker: (mean, std)}``, per Mel bin over each speaker's unpadded frames."""
    frames = lengths(features)
    names = np.asarray([str(s) for s in speakers])
    stats = {}
    for speaker in np.unique(names):
        rows = torch.from_numpy(np.flatnonzero(names == speaker))
        stats[str(speaker)] = _stats(features[rows].float(), frames[rows])
    return stats


def normalise(
    features: torch.Tensor,
    norm: str,
    *,
    speakers: Sequence[str] | None = None,
    mean: torch.Tensor | None = None,
    std: torch.Tensor | None = None,
    stats: Stats | None = None,
) -> torch.Tensor:
    """``(N, n_mels, frames)`` log-Mel -> normalised, by ``norm``.

    ``global`` needs the training ``mean`` and ``std``; ``speaker`` needs each row's
    speaker and takes each speaker's statistics from ``stats`` (by default from the rows
    given). Per utterance and per speaker, padding frames become 0.
    """
    check_norm(norm)
    features = features.float()
    if norm == "global":
        return (features - mean) / std
    frames = lengths(features)
    out = torch.empty_like(features)
    if norm == "utterance":
        for i in range(len(features)):
            m, s = _stats(features[i : i + 1], frames[i : i + 1])
            out[i] = (features[i] - m) / s
    else:
        if speakers is None or len(speakers) != len(features):
            raise AblateError("data.norm=speaker: every utterance needs its speaker")
        names = [str(s) for s in speakers]
        stats = stats if stats is not None else speaker_stats(features, names)
        for i, name in enumerate(names):
            m, s = stats[name]
            out[i] = (features[i] - m) / s
    pad = torch.arange(features.shape[-1])[None, None, :] >= frames[:, None, None]
    return out.masked_fill(pad, 0.0)
