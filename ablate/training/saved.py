"""A self-contained model directory: weights, config, label names, feature settings.

Layout::

    MODEL_DIR/config.yaml    resolved config (data section = feature settings)
    MODEL_DIR/model.pt       {"state_dict", "mean", "std"}: tensors only
    MODEL_DIR/meta.json      label names, feature settings, validation metrics, provenance

Weights load with ``torch.load(weights_only=True)``: nothing in the directory is unpickled
as code, so a model directory from a stranger cannot run anything on load.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ablate.config import make_config, to_yaml
from ablate.data.features import FeatureExtractor, load_audio
from ablate.errors import AblateError, first_line
from ablate.models.build import build_model
from ablate.training.engine import predict

FILES = ("config.yaml", "model.pt", "meta.json")


@dataclass
class SavedModel:
    config: DictConfig
    model: nn.Module
    label_names: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    meta: dict[str, Any]

    def save(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(to_yaml(self.config))
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save({"state_dict": state, "mean": self.mean, "std": self.std}, out / "model.pt")
        (out / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> SavedModel:
        directory = Path(directory)
        missing = [name for name in FILES if not (directory / name).is_file()]
        if missing:
            raise AblateError(
                f"{directory}: not a model directory (missing {', '.join(missing)}); "
                "make one with `ablate train CONFIG --out DIR`"
            )
        config = make_config(OmegaConf.load(directory / "config.yaml"))
        meta = json.loads((directory / "meta.json").read_text())
        try:
            payload = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:  # weights_only refused a non-tensor object
            found = [line for line in str(exc).splitlines() if "GLOBAL" in line]
            detail = f" ({found[0].strip().rstrip('.')})" if found else ""
            raise AblateError(
                f"{directory / 'model.pt'}: refused to load: it holds Python objects, not only "
                f"tensors{detail}; nothing in it was run"
            ) from None
        except Exception as exc:
            raise AblateError(
                f"{directory / 'model.pt'}: cannot load weights ({first_line(exc)})"
            ) from None
        labels = meta["label_names"]
        data = config.data
        model = build_model(config.model, data.n_mels, data.frames, len(labels))
        model.load_state_dict(payload["state_dict"])
        return cls(config, model.eval(), labels, payload["mean"], payload["std"], meta)

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, frames)`` raw log-Mel -> ``(N, 1, n_mels, frames)`` model input."""
        return ((features - self.mean) / self.std).unsqueeze(1)

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        logits, _ = predict(self.model, self.normalise(features), batch_size=64, amp=False)
        return logits.softmax(-1)

    def predict_files(self, paths: list[Path]) -> list[dict[str, Any]]:
        """Label and class probabilities per audio file."""
        extractor = FeatureExtractor(self.config.data)
        rows = []
        for path in paths:
            wave, rate = load_audio(path, self.config.data.get("max_seconds"))
            probs = self.probabilities(extractor(wave, rate)[None])[0]
            rows.append(
                {
                    "file": str(path),
                    "label": self.label_names[int(probs.argmax())],
                    "probabilities": {
                        n: float(p) for n, p in zip(self.label_names, probs, strict=True)
                    },
                }
            )
        return rows
