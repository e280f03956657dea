"""Where the model contracts lived before :mod:`ablate.contracts`; plugins written against
ablate 0.1 import them from here unchanged."""

from ablate.contracts import DistillShape, ModelShape, Patching, PositionalEncoding, Stem

__all__ = ["DistillShape", "ModelShape", "Patching", "PositionalEncoding", "Stem"]
