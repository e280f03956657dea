"""Value ranges the config types cannot express (negative epochs, a zero batch size, ...)."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from ablate.errors import AblateError

#: dotted key -> (low, high (exclusive), whether the low end is inclusive)
RANGES: dict[str, tuple[float, float, bool]] = {
    "train.epochs": (0, math.inf, True),
    "train.batch_size": (1, math.inf, True),
    "train.lr": (0, math.inf, False),
    "train.weight_decay": (0, math.inf, True),
    "train.warmup_epochs": (0, math.inf, True),
    "train.label_smoothing": (0, 1, True),
    "train.grad_clip": (0, math.inf, True),
    "train.patience": (0, math.inf, True),
    "distill.teacher_epochs": (0, math.inf, True),
    "distill.feature_epochs": (0, math.inf, True),
    "distill.finetune_epochs": (0, math.inf, True),
    "distill.alpha": (0, math.inf, True),
    "data.n_mels": (1, math.inf, True),
    "data.frames": (1, math.inf, True),
    "data.sample_rate": (1, math.inf, True),
    "data.max_seconds": (0, math.inf, True),
    "protocol.folds": (2, math.inf, True),
    "protocol.max_folds": (0, math.inf, True),
    "protocol.val_fraction": (0, 1, True),
    "model.dim": (1, math.inf, True),
    "model.depth": (1, math.inf, True),
    "model.heads": (1, math.inf, True),
    "model.dim_head": (1, math.inf, True),
    "model.dropout": (0, 1, True),
    "model.emb_dropout": (0, 1, True),
    "model.drop_path": (0, 1, True),
    "train.ema": (0, 1, True),
    "data.max_frames": (0, math.inf, True),
    "data.trim_db": (0, math.inf, True),
}


def check_ranges(config: DictConfig, where: str = "") -> None:
    """Raise a one-line error for the first value outside its allowed range."""
    for key, (low, high, inclusive) in RANGES.items():
        value = OmegaConf.select(config, key)
        if value is None:
            continue
        below = value < low if inclusive else value <= low
        if below or value >= high:
            bound = f">= {low}" if inclusive else f"> {low}"
            upper = "" if high == math.inf else f" and < {high}"
            raise AblateError(f"{where}{key}: {value!r} is out of range (must be {bound}{upper})")
