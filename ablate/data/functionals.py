"""openSMILE's eGeMAPSv02 functionals (``data.features=egemaps``): the classic SER baseline.

88 acoustic parameters per utterance (pitch, jitter, shimmer, loudness, formants, spectral
slopes and their statistics over the whole utterance; Eyben et al. 2016), computed by the
``opensmile`` package (audEERING) on the prepared waveform (resampled, trimmed when
``data.trim_db`` is set). The vector is stored as an ``(88, 1)`` image so that the folds,
normalisation (``global`` per feature, or ``speaker``: speaker-normalised functionals),
training and statistics are the ones the networks use. openSMILE's licence allows
research and education only; it is an optional extra: ``pip install -e ".[opensmile]"``.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from ablate.data.features import AudioError, Extractor
from ablate.errors import AblateError

#: eGeMAPSv02 functionals per utterance
EGEMAPS_DIM = 88
#: bumped whenever this module changes what it outputs (invalidates the cache)
EGEMAPS_VERSION = 1
INSTALL = 'pip install -e ".[opensmile]" (or pip install opensmile)'


def _opensmile():
    try:
        import opensmile
    except ImportError:
        raise AblateError(f"data.features=egemaps needs the opensmile package: {INSTALL}") from None
    return opensmile


class EgemapsExtractor(Extractor):
    """Waveform -> ``(88, 1)`` float32 eGeMAPSv02 functionals."""

    kind = "egemaps"

    def __init__(self, data: DictConfig):
        super().__init__(data)
        if data.norm == "utterance":
            raise AblateError(
                "data.norm=utterance: eGeMAPS functionals are one value per feature and "
                "utterance, nothing to normalise over; use global or speaker"
            )
        opensmile = _opensmile()
        self.smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.Functionals,
        )
        self._settings = {
            "version": EGEMAPS_VERSION,
            "feature_set": "eGeMAPSv02",
            "level": "functionals",
            "opensmile": opensmile.__version__,
            "sample_rate": self.sample_rate,
            **self._trim_settings(),
        }

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """The functionals of a prepared ``wave``; ``too-short`` under one analysis window,
        ``non-finite`` when openSMILE returns NaN (no voiced frame to measure)."""
        if wave.shape[-1] < self.min_samples:
            raise AudioError("too-short")
        values = self.smile.process_signal(wave.numpy(), self.sample_rate).to_numpy()
        vector = torch.from_numpy(values.astype("float32")).reshape(EGEMAPS_DIM, 1)
        if not torch.isfinite(vector).all():
            raise AudioError("non-finite")
        return vector.contiguous()
