"""Patch layouts: vertical (whole frequency axis per token), square, horizontal."""

from ablate import hookimpl
from ablate.contracts import ModelShape, Patching


def vertical(shape: ModelShape, width: int = 1, pad: bool = False) -> Patching:
    return Patching(shape, shape.height, width, pad)


def square(shape: ModelShape, size: int = 16, pad: bool = False) -> Patching:
    return Patching(shape, size, size, pad)


def horizontal(shape: ModelShape, height: int = 1, pad: bool = False) -> Patching:
    return Patching(shape, height, shape.width, pad)


@hookimpl
def register_patchings(register):
    register("vertical", vertical, "All Mel bins x `width` frames per token (the paper's 128x1)")
    register("square", square, "`size` x `size` patches, as in image ViTs")
    register("horizontal", horizontal, "`height` Mel bins x all frames per token")
