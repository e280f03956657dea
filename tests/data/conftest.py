"""Helpers for the data tests: tiny generated audio files and small data configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ablate.data.pipeline as pipeline
from ablate.config import make_config


@pytest.fixture
def write_wav():
    """``write_wav(path, seconds=.3, rate=16000, freq=220)``: a short sine tone file."""

    def write(path: Path, seconds: float = 0.3, rate: int = 16000, freq: float = 220.0) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(seconds * rate)) / rate
        sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), rate)
        return path

    return write


@pytest.fixture
def calls(monkeypatch):
    """Count decode+extract jobs actually run (cache misses)."""
    counter = {"n": 0}
    real = pipeline._run

    def counting(job):
        counter["n"] += 1
        return real(job)

    monkeypatch.setattr(pipeline, "_run", counting)
    return counter


@pytest.fixture
def small_data(tmp_path):
    """``small_data(dataset, root, *overrides)``: a data config with small features and
    a private cache, one worker unless overridden."""

    def make(dataset: str, root: Path | None = None, *overrides: str):
        dotlist = [
            f"data.dataset={dataset}",
            "data.n_mels=32",
            "data.frames=16",
            "data.n_fft=256",
            "data.hop_length=128",
            "data.workers=1",
            f"data.cache_dir={tmp_path / 'cache'}",
            *([f"data.root={root}"] if root else []),
            *overrides,
        ]
        return make_config(dotlist=dotlist).data

    return make
