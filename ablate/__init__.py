"""ablate: a plugin-based ablation framework for spectrogram Vision-Transformer SER."""

from importlib.metadata import PackageNotFoundError, version

from ablate import allocator, threads
from ablate.hookspecs import hookimpl

# First, before torch is loaded: keep freed memory in the process (see allocator), and let
# idle OpenMP threads sleep soon instead of spinning for milliseconds (see threads).
allocator.apply()
threads.apply()

try:
    __version__ = version("ablate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "hookimpl"]
