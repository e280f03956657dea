"""The data contracts: corpus adapters and augmentations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from ablate.contracts.base import REQUIRED, Contract
from ablate.corpus import (
    UNPARSABLE,
    ScanResult,
    Utterance,
    audio_files,
    finish_scan,
    require_dir,
)


class DatasetAdapter(Contract):
    """A corpus layout: ``scan()`` returns a :class:`ScanResult` (utterances + skipped).

    This base walks the audio files under the root (``files``) and asks ``parse`` for each
    one's label, speaker and metadata; a file ``parse`` returns None for is skipped as
    unparsable. ``name`` and ``layout`` make the errors say what was expected.
    """

    context: ClassVar[str] = "Path | None"
    reads: ClassVar[dict[str, Any]] = {"scan": REQUIRED}
    name = ""
    layout = ""

    def __init__(self, root: Path | None):
        self.root = require_dir(self.name, root, self.layout)

    def files(self) -> list[Path]:
        return audio_files(self.root)

    def parse(self, path: Path) -> Utterance | None:
        raise NotImplementedError

    def scan(self) -> ScanResult:
        result = ScanResult([])
        for path in self.files():
            utterance = self.parse(path)
            if utterance is None:
                result.skipped.append((str(path), UNPARSABLE))
            else:
                result.utterances.append(utterance)
        return finish_scan(self.name, self.root, self.layout, result)


#: When an augmentation runs, and so how it is called (see the ``Augment`` subclasses).
STAGES = ("wave", "feature", "batch")


class Augment(Contract):
    """An augmentation of training folds; ``stage`` (one of :data:`STAGES`) says when it
    runs and how it is called. Subclass one of the three stage bases below."""

    reads: ClassVar[dict[str, Any]] = {"stage": REQUIRED, "__call__": REQUIRED}
    stage: str

    @classmethod
    def problem(cls, obj: Any) -> str | None:
        found = super().problem(obj)
        if found is None and getattr(obj, "stage", None) not in STAGES:
            found = f"has stage {obj.stage!r}; expected one of {', '.join(STAGES)}"
        return found


class WaveAugment(Augment):
    """``augment(wave, sample_rate, generator) -> wave`` on a 1-D waveform, before feature
    extraction (for ``data.augment_copies`` extra copies of each training utterance)."""

    stage = "wave"

    def __call__(self, wave: torch.Tensor, sample_rate: int, generator: torch.Generator):
        raise NotImplementedError


class FeatureAugment(Augment):
    """``augment(x, generator) -> x`` on a normalised ``(B, 1, n_mels, frames)`` batch."""

    stage = "feature"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


class BatchAugment(Augment):
    """``augment(x, y, generator) -> (x, y)`` on a batch and its one-hot targets."""

    stage = "batch"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        raise NotImplementedError
