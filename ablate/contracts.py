"""The plugin contracts: each kind's build context and base class, in one place.

A factory registered for a kind receives the kind's context and returns an object that
honours the kind's base class. Subclassing the base is the easy way; a duck-typed object
works too, as long as it has every attribute the engine reads (``Contract.reads``).
:func:`conform` checks that when the object is built and fills the optional attributes it
left out, so the engine never meets an ``AttributeError`` from a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ablate.corpus import (
    UNPARSABLE,
    ScanResult,
    Utterance,
    audio_files,
    finish_scan,
    require_dir,
)

#: In ``Contract.reads``: the attribute has no default; the plugin must set it.
REQUIRED = object()


class Contract:
    """What the engine reads of a built component: ``reads`` maps each attribute to its
    default (``REQUIRED`` when there is none); ``counts`` maps the ones that are sizes to
    their least value; ``module`` asks for a ``torch.nn.Module``."""

    reads: ClassVar[dict[str, Any]] = {}
    counts: ClassVar[dict[str, int]] = {}
    module: ClassVar[bool] = False
    #: what a factory of this kind receives as its first argument (for messages and docs)
    context: ClassVar[str] = "None"

    @classmethod
    def problem(cls, obj: Any) -> str | None:
        """Why ``obj`` breaks the contract, or None; missing optional attributes are set."""
        if cls.module and not isinstance(obj, nn.Module):
            return f"returned {type(obj).__name__}, not a torch.nn.Module (subclass {cls.__name__})"
        needed = [name for name, default in cls.reads.items() if default is REQUIRED]
        missing = [name for name in needed if not hasattr(obj, name)]
        if missing:
            return f"has no attribute {', '.join(missing)} (see ablate.contracts.{cls.__name__})"
        for name, default in cls.reads.items():
            if not hasattr(obj, name):
                setattr(obj, name, default)
        for name, least in cls.counts.items():
            value = getattr(obj, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                return f"declares {name} = {value!r}; expected an int >= {least}"
        return None


@dataclass(frozen=True)
class ModelShape:
    """The true shape a model component receives.

    ``channels`` enter the component: 1 for the stem, the stem's ``out_channels`` for the
    positional encoding, and those plus the encoding's ``extra_channels`` for the patching.
    ``num_tokens`` (CLS included) and ``grid`` (patch rows x columns, when the patching
    declares one) are set for the positional encoding only; 0 and None before.
    """

    height: int
    width: int
    channels: int
    dim: int
    num_tokens: int = 0
    grid: tuple[int, int] | None = None


@dataclass(frozen=True)
class DistillShape:
    """Feature and class sizes of a student and its teacher."""

    student_dim: int
    teacher_dim: int
    num_classes: int


class Stem(nn.Module, Contract):
    """Image to image, run first: ``(B, C, H, W) -> (B, out_channels, H, W)``."""

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"out_channels": REQUIRED}
    counts: ClassVar[dict[str, int]] = {"out_channels": 1}
    module = True
    out_channels: int


def _windows(size: int, window: int, stride: int, pad: bool) -> int | None:
    """How many windows cover ``size``; None when they cannot without padding."""
    if pad:
        return -(-max(size - window, 0) // stride) + 1
    if size < window or (size - window) % stride:
        return None
    return (size - window) // stride + 1


class Patching(nn.Module, Contract):
    """Cuts ``(B, C, H, W)`` into ``(B, num_patches, patch_dim)`` row-major tokens.

    The engine reads ``num_patches`` (tokens, CLS excluded) and ``patch_dim`` (features per
    token); ``grid`` (rows, columns) is passed on to the positional encoding. This base
    class computes all three from the window size and ``stride`` (rows, columns, or one
    int for both; the window size by default: no overlap; smaller: overlapping windows).
    Windows that do not tile the input are an error unless ``pad`` is true; then the image
    is zero-padded at the bottom and right. Each token holds its window's pixels as
    ``(ph, pw, C)`` flattened.
    """

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"num_patches": REQUIRED, "patch_dim": REQUIRED}
    counts: ClassVar[dict[str, int]] = {"num_patches": 1, "patch_dim": 1}
    module = True

    def __init__(
        self,
        shape: ModelShape,
        patch_height: int,
        patch_width: int,
        pad: bool = False,
        stride: int | tuple[int, int] | None = None,
    ):
        super().__init__()
        h, w = shape.height, shape.width
        if isinstance(stride, int):
            stride = (stride, stride)
        sh, sw = stride or (patch_height, patch_width)
        if min(patch_height, patch_width) < 1:
            raise ValueError(f"patch size must be >= 1, got {patch_height}x{patch_width}")
        if min(sh, sw) < 1:
            raise ValueError(f"stride must be >= 1, got {sh}x{sw}")
        rows, cols = _windows(h, patch_height, sh, pad), _windows(w, patch_width, sw, pad)
        if rows is None or cols is None:
            if (sh, sw) == (patch_height, patch_width):
                problem = f"patch {patch_height}x{patch_width} does not divide the {h}x{w} input"
            else:
                problem = (
                    f"windows {patch_height}x{patch_width} at stride {sh}x{sw} do not tile "
                    f"the {h}x{w} input"
                )
            raise ValueError(f"{problem}; change the patch size or set pad=true")
        self.ph, self.pw, self.stride, self.pad = patch_height, patch_width, (sh, sw), pad
        self.grid = (rows, cols)
        self.patch_dim = shape.channels * patch_height * patch_width

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def patch_area(self) -> int:
        return self.ph * self.pw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        (rows, cols), (sh, sw) = self.grid, self.stride
        height, width = (rows - 1) * sh + self.ph, (cols - 1) * sw + self.pw
        if (height, width) != (h, w):
            x = nn.functional.pad(x, (0, width - w, 0, height - h))
        if (sh, sw) == (self.ph, self.pw):  # no overlap: a reshape (unfold's backward is slower)
            x = x.reshape(b, c, rows, self.ph, cols, self.pw).permute(0, 2, 4, 3, 5, 1)
        else:
            x = x.unfold(2, self.ph, sh).unfold(3, self.pw, sw).permute(0, 2, 3, 4, 5, 1)
        return x.reshape(b, rows * cols, self.ph * self.pw * c)


class PositionalEncoding(nn.Module, Contract):
    """Positional information, on the image and/or on the tokens.

    ``image(x)`` runs after the stem and may add ``extra_channels`` channels; ``tokens(t)``
    runs on ``(B, num_tokens, dim)`` with the CLS token first and keeps that shape.
    """

    context: ClassVar[str] = "ModelShape"
    reads: ClassVar[dict[str, Any]] = {"extra_channels": 0}
    counts: ClassVar[dict[str, int]] = {"extra_channels": 0}
    module = True
    extra_channels: int = 0

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return t


class DistillLoss(nn.Module, Contract):
    """``loss(student_feature, teacher_feature, student_logits, teacher_logits)`` -> scalar.

    ``note`` says, for the run log, anything the loss does beyond its name (e.g. a learned
    projection); ``active = False`` (the ``none`` loss) makes the engine skip the
    feature-matching stage and fine-tune with cross-entropy alone.
    """

    context: ClassVar[str] = "DistillShape"
    reads: ClassVar[dict[str, Any]] = {"note": None, "active": True}
    module = True
    note: str | None = None
    active: bool = True


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


#: Each plugin kind's contract: the base class every object built for it honours.
CONTRACTS: dict[str, type[Contract]] = {
    "patching": Patching,
    "pos_encoding": PositionalEncoding,
    "stem": Stem,
    "distill_loss": DistillLoss,
    "dataset": DatasetAdapter,
    "augment": Augment,
}
