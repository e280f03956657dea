"""The plugin contracts: each kind's build context and base class, in one place.

A factory registered for a kind receives the kind's context and returns an object that
honours the kind's base class. Subclassing the base is the easy way; a duck-typed object
works too, as long as it has every attribute the engine reads (``Contract.reads``).
:func:`conform` checks that when the object is built and fills the optional attributes it
left out, so the engine never meets an ``AttributeError`` from a plugin.
"""

from __future__ import annotations

from ablate.contracts.base import REQUIRED, Contract
from ablate.contracts.data import (
    STAGES,
    Augment,
    BatchAugment,
    DatasetAdapter,
    FeatureAugment,
    WaveAugment,
)
from ablate.contracts.distill import (
    INTERMEDIATES,
    OUTPUTS,
    DistillLoss,
    DistillShape,
    Intermediates,
)
from ablate.contracts.model import EncoderShape, ModelShape, Patching, PositionalEncoding, Stem

#: Each plugin kind's contract: the base class every object built for it honours.
CONTRACTS: dict[str, type[Contract]] = {
    "patching": Patching,
    "pos_encoding": PositionalEncoding,
    "stem": Stem,
    "distill_loss": DistillLoss,
    "dataset": DatasetAdapter,
    "augment": Augment,
}

__all__ = [
    "CONTRACTS",
    "INTERMEDIATES",
    "OUTPUTS",
    "REQUIRED",
    "STAGES",
    "Augment",
    "BatchAugment",
    "Contract",
    "DatasetAdapter",
    "DistillLoss",
    "DistillShape",
    "EncoderShape",
    "FeatureAugment",
    "Intermediates",
    "ModelShape",
    "Patching",
    "PositionalEncoding",
    "Stem",
    "WaveAugment",
]
