"""Value ranges the config types cannot express (negative epochs, a zero batch size, NaN,
more Mel bands than FFT bins, ...), checked before anything runs.

Every numeric key of the config has a range here (a test walks the config dataclasses to
keep it so): NaN and infinities are refused everywhere, ints must fit the int64 that
torch and numpy take, and seeds the 32 bits numpy's generators take. The keys that
constrain each other (the FFT and Mel settings, ``data.max_frames``) are checked after.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.config import MODEL_SECTIONS
from ablate.errors import AblateError

INF = math.inf
#: the largest int torch and numpy take (int64)
INT_LIMIT = 2**63
#: seeds: numpy's generators take 32 bits
SEED_RANGE = (0, 2**32, True)
#: a sample rate that can carry speech (the telephone band and up)
SAMPLE_RATES = (4000, 1_000_000, True)

_MODEL: dict[str, tuple[float, float, bool]] = {
    "dim": (1, INF, True),
    "depth": (1, INF, True),
    "heads": (1, INF, True),
    "dim_head": (1, INF, True),
    "mlp_dim": (1, INF, True),
    "dropout": (0, 1, True),
    "emb_dropout": (0, 1, True),
    "drop_path": (0, 1, True),
}

#: dotted key -> (low, high (exclusive), whether the low end is inclusive)
RANGES: dict[str, tuple[float, float, bool]] = {
    "data.sample_rate": SAMPLE_RATES,
    "data.n_mels": (1, INF, True),
    "data.frames": (1, INF, True),
    "data.n_fft": (2, INF, True),
    "data.hop_length": (1, INF, True),
    "data.win_length": (1, INF, True),
    "data.f_min": (0, INF, True),
    "data.f_max": (0, INF, False),
    "data.max_frames": (0, INF, True),
    "data.augment_copies": (0, INF, True),
    "data.workers": (1, INF, True),
    "data.max_seconds": (0, INF, True),
    "protocol.folds": (2, INF, True),
    "protocol.val_fraction": (0, 1, True),
    "protocol.max_folds": (0, INF, True),
    "protocol.seed": SEED_RANGE,
    **{f"{section}.{key}": bounds for section in MODEL_SECTIONS for key, bounds in _MODEL.items()},
    "train.epochs": (0, INF, True),
    "train.batch_size": (1, INF, True),
    "train.lr": (0, INF, False),
    "train.weight_decay": (0, INF, True),
    "train.warmup_epochs": (0, INF, True),
    "train.label_smoothing": (0, 1, True),
    "train.grad_clip": (0, INF, True),
    "train.patience": (0, INF, True),
    "train.ema": (0, 1, True),
    "train.seed": SEED_RANGE,
    "train.threads": (0, INF, True),
    "distill.alpha": (0, INF, True),
    "distill.teacher_epochs": (0, INF, True),
    "distill.feature_epochs": (0, INF, True),
    "distill.finetune_epochs": (0, INF, True),
    "data.trim_db": (0, INF, True),
}


def check_value(key: str, value: Any, bounds: tuple[float, float, bool], where: str = "") -> None:
    """A one-line error when ``value`` is not a finite number within ``bounds`` (an int
    also below 2**63)."""
    low, high, inclusive = bounds
    rule = (f">= {low}" if inclusive else f"> {low}") + ("" if high == INF else f" and < {high}")
    if isinstance(value, float) and not math.isfinite(value):
        raise AblateError(f"{where}{key}: {value!r} is not a finite number (must be {rule})")
    if isinstance(value, int) and high > INT_LIMIT:
        high = INT_LIMIT
        if value >= high:
            rule += " and < 2**63, the int64 torch takes"
    below = value < low if inclusive else value <= low
    if below or value >= high:
        raise AblateError(f"{where}{key}: {value!r} is out of range (must be {rule})")


def check_ranges(config: DictConfig, where: str = "") -> None:
    """Raise a one-line error for the first value outside its allowed range, then for the
    first pair of keys that contradict each other."""
    for key, bounds in RANGES.items():
        value = OmegaConf.select(config, key)
        if value is not None:
            check_value(key, value, bounds, where)
    check_features(config.data, where)


def check_features(data: DictConfig, where: str = "") -> None:
    """The feature settings agree with each other: Mel bands within the FFT bins (more
    bands are empty filters, and extraction grows without bound), a window within the
    FFT, a frequency band within Nyquist, ``max_frames`` 0 or at least ``frames`` (and
    then padded, not resized)."""
    n_fft, rate = int(data.n_fft), int(data.sample_rate)
    bins = n_fft // 2 + 1
    if data.n_mels > bins:
        raise AblateError(
            f"{where}data.n_mels: {data.n_mels} is more than the {bins} FFT bins of "
            f"data.n_fft {n_fft} (at most n_fft // 2 + 1); lower data.n_mels or raise data.n_fft"
        )
    if data.win_length is not None and data.win_length > n_fft:
        raise AblateError(
            f"{where}data.win_length: {data.win_length} is longer than data.n_fft {n_fft} "
            "(the window must fit the FFT)"
        )
    nyquist = rate / 2
    f_max = nyquist if data.f_max is None else data.f_max
    if f_max > nyquist:
        raise AblateError(
            f"{where}data.f_max: {data.f_max} is above {nyquist:g} Hz, half of "
            f"data.sample_rate {rate} (the highest frequency it holds)"
        )
    if data.f_min >= f_max:
        raise AblateError(
            f"{where}data.f_min: {data.f_min} must be below data.f_max ({f_max:g} Hz"
            f"{'' if data.f_max is not None else ', half of data.sample_rate'})"
        )
    if 0 < data.max_frames < data.frames:
        raise AblateError(
            f"{where}data.max_frames: {data.max_frames} is below data.frames {data.frames}; "
            "give 0 (keep data.frames) or at least data.frames (keep longer utterances)"
        )
    if data.max_frames > data.frames and data.fit != "pad":
        raise AblateError(
            f"{where}data.max_frames: sliding windows need data.fit=pad, not {data.fit!r} "
            f"(data.max_frames {data.max_frames} > data.frames {data.frames})"
        )


def check_swept_features(
    base: DictConfig, swept: Sequence[tuple[str, Sequence[Any]]], where: str = "space."
) -> None:
    """Swept ``data.*`` keys together: every combination of their values (a range's ends)
    must agree (:func:`check_features`); each was checked alone against ``base`` already,
    but ``n_mels`` 256 and ``n_fft`` 256, each fine beside the other's base value, are not."""
    swept = [(key, values) for key, values in swept if key.startswith("data.")]
    if len(swept) < 2 or math.prod(len(values) for _, values in swept) > 10_000:
        return
    for combo in itertools.product(*(values for _, values in swept)):
        data = base.data.copy()
        for (key, _), value in zip(swept, combo, strict=True):
            OmegaConf.update(data, key.removeprefix("data."), value, merge=True)
        try:
            check_features(data, where)
        except AblateError as exc:
            point = ", ".join(
                f"{key}={value}" for (key, _), value in zip(swept, combo, strict=True)
            )
            raise AblateError(f"{exc} (at {point})") from None
