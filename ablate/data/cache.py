"""The on-disk cache: features keyed by audio content + settings, and generated audio.

Location: ``data.cache_dir``, else ``$ABLATE_CACHE_DIR``, else ``~/.cache/ablate``.
Every write goes to a temporary file in the same folder, is synced to disk, and is then
renamed with ``os.replace``: two processes filling the cache at once never see a partial
file, and a power cut cannot leave an empty file under the final name. An entry that is
still unusable (unreadable, truncated, the wrong shape or type, not finite) is a miss:
it is recomputed and overwritten. A cache folder that cannot be written is warned about
once; the features are then computed without being stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from omegaconf import DictConfig

from ablate.files import atomic_write

FEATURES = "features"


def cache_root(data: DictConfig | None = None) -> Path:
    """The cache folder for this data config (created on first write, not here)."""
    configured = getattr(data, "cache_dir", None) if data is not None else None
    root = configured or os.environ.get("ABLATE_CACHE_DIR") or "~/.cache/ablate"
    return Path(root).expanduser()


def clear_cache(data: DictConfig | None = None) -> Path:
    """Delete the whole cache folder (features and generated corpora); return its path."""
    root = cache_root(data)
    shutil.rmtree(root, ignore_errors=True)
    return root


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes: the cache key follows the content, not the name."""
    with Path(path).open("rb") as handle:
        return stream_hash(handle)


def stream_hash(handle: BinaryIO) -> str:
    """sha256 of the bytes left in an open file."""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    """A stable sha256 key over JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureCache:
    """Feature tensors stored as ``.npy`` files under ``<root>/features/<key[:2]>/``;
    ``shape`` is what every entry must have (checked on read when given)."""

    def __init__(self, root: Path, enabled: bool = True, shape: tuple[int, ...] | None = None):
        self.folder = root / FEATURES
        self.enabled = enabled
        self.shape = shape
        self.writable = True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> torch.Tensor | None:
        """The entry, or None when it is missing or unusable (then recomputed)."""
        if not self.enabled:
            return None
        try:
            array = np.load(self._path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):  # missing, unreadable, truncated, not .npy
            return None
        usable = (
            array.dtype == np.float32
            and (self.shape is None or array.shape == self.shape)
            and bool(np.isfinite(array).all())
        )
        return torch.from_numpy(array) if usable else None

    def put(self, key: str, value: torch.Tensor) -> None:
        if not (self.enabled and self.writable):
            return
        array = value.numpy()

        def write(temp: Path) -> None:
            with temp.open("wb") as handle:
                np.save(handle, array, allow_pickle=False)

        try:
            atomic_write(self._path(key), write)
        except OSError as exc:
            self.writable = False
            warnings.warn(
                f"feature cache {self.folder}: cannot write ({exc.strerror or exc}); "
                "features are computed but not cached (set data.cache_dir or "
                "ABLATE_CACHE_DIR to a writable folder)",
                stacklevel=2,
            )
