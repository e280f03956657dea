"""Which features a data config asks for (``data.features``) and the model input they make.

``logmel`` (the default, unset): ``n_mels`` x ``frames`` log-Mel images, wider ones kept
up to ``data.max_frames`` for sliding windows. ``egemaps``: openSMILE's 88 eGeMAPSv02
functionals per utterance as an ``88 x 1`` image (``n_mels``, ``frames``, ``max_frames``
and the STFT settings do not apply).
"""

from __future__ import annotations

from omegaconf import DictConfig

from ablate.data.features import Extractor, FeatureExtractor, image_width
from ablate.errors import AblateError

FEATURES = ("logmel", "egemaps")


def feature_type(data: DictConfig) -> str:
    """``data.features``, ``logmel`` when unset."""
    kind = data.get("features") or "logmel"
    if kind not in FEATURES:
        raise AblateError(f"data.features: expected one of {', '.join(FEATURES)}, got {kind!r}")
    return kind


def make_extractor(data: DictConfig) -> Extractor:
    """The extractor of ``data.features``."""
    if feature_type(data) == "egemaps":
        from ablate.data.functionals import EgemapsExtractor

        return EgemapsExtractor(data)
    return FeatureExtractor(data)


def input_shape(data: DictConfig) -> tuple[int, int]:
    """The model's input ``(height, width)``: ``(n_mels, frames)`` for log-Mel images (a
    wider stored image is read through ``frames``-wide windows), ``(88, 1)`` for eGeMAPS."""
    if feature_type(data) == "egemaps":
        from ablate.data.functionals import EGEMAPS_DIM

        return EGEMAPS_DIM, 1
    return int(data.n_mels), int(data.frames)


def stored_shape(data: DictConfig) -> tuple[int, int]:
    """Each utterance's stored features: the input shape, a log-Mel image as wide as
    ``data.max_frames`` when that is wider than ``frames``."""
    height, width = input_shape(data)
    return (height, image_width(data)) if feature_type(data) == "logmel" else (height, width)
