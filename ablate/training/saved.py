"""A self-contained model directory: weights, config, label names, feature settings.

Layout::

    MODEL_DIR/config.yaml    resolved config (data section = feature settings)
    MODEL_DIR/model.pt       {"state_dict", "mean", "std"}: tensors only
    MODEL_DIR/meta.json      label names, feature settings, validation metrics, provenance

Weights load with ``torch.load(weights_only=True)``: nothing in the directory is unpickled
as code, so a model directory from a stranger cannot run anything on load. Every file is
checked against the others on load (:mod:`ablate.training.model_files`); a directory is
written beside its destination and renamed into place, so it is never half-written.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from ablate.config import to_yaml
from ablate.data.features import AudioError, load_audio
from ablate.data.inputs import input_shape, make_extractor
from ablate.data.normalize import lengths, normalise
from ablate.errors import AblateError
from ablate.files import fsync
from ablate.registry import Registry
from ablate.training.engine import predict
from ablate.training.model_files import (
    check_normaliser,
    fitted_model,
    read_config,
    read_meta,
    read_weights,
)

FILES = ("config.yaml", "model.pt", "meta.json")


def is_model_dir(directory: Path) -> bool:
    return all((directory / name).is_file() for name in FILES)


@dataclass
class SavedModel:
    config: DictConfig
    model: nn.Module
    label_names: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    meta: dict[str, Any]

    def save(self, out: Path) -> Path:
        """Write the directory beside ``out`` and rename it into place: ``out`` is never
        left half-written. An existing model directory there is replaced (the caller
        decides whether that is allowed); other existing contents are refused."""
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = out.with_name(f".{out.name}.saving-{os.getpid()}")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        try:
            (temp / "config.yaml").write_text(to_yaml(self.config))
            state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
            weights = {"state_dict": state, "mean": self.mean, "std": self.std}
            torch.save(weights, temp / "model.pt")
            (temp / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str))
            for name in FILES:
                fsync(temp / name)
            self._install(temp, out)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return out

    @staticmethod
    def _install(temp: Path, out: Path) -> None:
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if not out.exists():
            temp.rename(out)
            return
        if not is_model_dir(out):
            raise AblateError(f"{out}: exists and is not a model directory; nothing was written")
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        out.rename(old)
        temp.rename(out)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | Path, registry: Registry) -> SavedModel:
        """Read and check every file and build the model with ``registry``'s plugins; a
        one-line error names the file and the fault."""
        directory = Path(directory)
        missing = [name for name in FILES if not (directory / name).is_file()]
        if missing:
            raise AblateError(
                f"{directory}: not a model directory (missing {', '.join(missing)}); "
                "make one with `ablate train CONFIG --out DIR`"
            )
        config = read_config(directory / "config.yaml")
        meta = read_meta(directory / "meta.json")
        payload = read_weights(directory / "model.pt")
        check_normaliser(directory / "model.pt", payload, config.data)
        labels = meta["label_names"]
        model = fitted_model(directory, config, labels, payload["state_dict"], registry)
        return cls(config, model.eval(), labels, payload["mean"], payload["std"], meta)

    def normalise(self, features: torch.Tensor, speakers: list[str] | None = None) -> torch.Tensor:
        """``(N, H, W)`` raw features -> ``(N, 1, H, W)`` model input, by the
        model's ``data.norm``. Per speaker, the statistics come from the utterances given
        here, grouped by ``speakers``; without speakers they are taken as one speaker's."""
        norm = self.config.data.get("norm", "global")
        if norm == "speaker" and speakers is None:
            speakers = ["speaker"] * len(features)
        x = normalise(features, norm, speakers=speakers, mean=self.mean, std=self.std)
        return x.unsqueeze(1)

    def probabilities(
        self, features: torch.Tensor, speakers: list[str] | None = None
    ) -> torch.Tensor:
        """Class probabilities; utterances wider than the model's window are averaged over
        sliding windows."""
        frames = lengths(features)
        logits, _ = predict(
            self.model,
            self.normalise(features, speakers),
            batch_size=64,
            amp=False,
            lengths=frames,
            window=input_shape(self.config.data)[1],
        )
        return logits.softmax(-1)

    def predict_files(self, paths: list[Path]) -> list[dict[str, Any]]:
        """Label and class probabilities per audio file, in order; a file that cannot be
        read gets ``{"file", "error"}`` (the reason) and the others are still predicted.
        A per-speaker model normalises the good files of one call together, as one
        speaker's."""
        extractor = make_extractor(self.config.data)
        features, good, rows = [], [], []
        for path in paths:
            try:
                wave, rate = load_audio(path, self.config.data.get("max_seconds"))
                features.append(extractor(wave, rate))
            except AudioError as exc:
                rows.append({"file": str(path), "error": exc.reason})
                continue
            good.append(len(rows))
            rows.append({"file": str(path)})
        if not features:
            return rows
        for index, probs in zip(good, self.probabilities(torch.stack(features)), strict=True):
            rows[index]["label"] = self.label_names[int(probs.argmax())]
            rows[index]["probabilities"] = {
                n: float(p) for n, p in zip(self.label_names, probs, strict=True)
            }
        return rows
