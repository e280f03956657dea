"""The on-disk cache: features keyed by audio content + settings, and generated audio.

Location: ``data.cache_dir``, else ``$ABLATE_CACHE_DIR``, else ``~/.cache/ablate``.
Every write goes to a temporary file in the same folder and is then renamed with
``os.replace``, so two processes filling the cache at once never see a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

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
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    """A stable sha256 key over JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, write) -> None:
    """Call ``write(temp_path)`` then rename the temp file onto ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(temp))
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


class FeatureCache:
    """Feature tensors stored as ``.npy`` files under ``<root>/features/<key[:2]>/``."""

    def __init__(self, root: Path, enabled: bool = True):
        self.folder = root / FEATURES
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> torch.Tensor | None:
        if not self.enabled:
            return None
        try:
            return torch.from_numpy(np.load(self._path(key), allow_pickle=False))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: torch.Tensor) -> None:
        if not self.enabled:
            return
        array = value.numpy()

        def write(temp: Path) -> None:
            with temp.open("wb") as handle:
                np.save(handle, array, allow_pickle=False)

        atomic_write(self._path(key), write)
