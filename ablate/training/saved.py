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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from ablate.config import to_yaml
from ablate.data.features import AudioError, load_audio
from ablate.data.inputs import input_shape, make_extractor
from ablate.data.normalize import lengths, normalise, speaker_stats
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
#: the speaker name of enrolment utterances (``SavedModel.normalise``)
ENROLLED = "enrolled"


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

    def normalise(
        self,
        features: torch.Tensor,
        speakers: list[str] | None = None,
        enrolled: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(N, n_mels, W)`` raw log-Mel -> ``(N, 1, n_mels, W)`` model input, by the
        model's ``data.norm``. Per speaker, the statistics come from the ``enrolled``
        utterances of the one speaker of every row, else from the rows of each speaker
        in ``speakers``; with neither, from the training set (``mean``, ``std``): a row's
        input never depends on unrelated rows."""
        norm = self.config.data.get("norm", "global")
        if norm == "speaker" and enrolled is not None:
            stats = speaker_stats(enrolled, [ENROLLED] * len(enrolled))
            x = normalise(features, norm, speakers=[ENROLLED] * len(features), stats=stats)
        elif norm == "speaker" and speakers is None:
            x = normalise(features, "global", mean=self.mean, std=self.std)
        else:
            x = normalise(features, norm, speakers=speakers, mean=self.mean, std=self.std)
        return x.unsqueeze(1)

    def probabilities(
        self,
        features: torch.Tensor,
        speakers: list[str] | None = None,
        enrolled: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class probabilities; utterances wider than the model's window are averaged over
        sliding windows."""
        frames = lengths(features)
        logits, _ = predict(
            self.model,
            self.normalise(features, speakers, enrolled),
            batch_size=64,
            amp=False,
            lengths=frames,
            window=input_shape(self.config.data)[1],
        )
        return logits.softmax(-1)

    def normalisation(self, files: int, speaker: str | None = None, enrol: int = 0) -> str:
        """How :meth:`predict_files` normalises, in words (its output says it); a speaker
        or enrolment for a model that does not normalise per speaker is an error."""
        norm = self.config.data.get("norm", "global")
        if norm != "speaker":
            if speaker is not None or enrol:
                option = "--speaker" if speaker is not None else "--enrol"
                raise AblateError(
                    f"{option}: the model normalises by data.norm={norm}, not per speaker; "
                    f"drop {option}"
                )
            if norm == "utterance":
                return "each file by its own statistics (data.norm=utterance)"
            return "the training set's statistics (data.norm=global)"
        who = f"speaker {speaker}" if speaker is not None else "one speaker"
        if enrol:
            return f"{who}'s statistics, from the {enrol} --enrol files (data.norm=speaker)"
        if speaker is not None:
            return f"{who}'s statistics, from the {files} files given together (data.norm=speaker)"
        return (
            "the training set's statistics (data.norm=speaker, but no speaker was named: "
            "--speaker ID or --enrol FILE for that speaker's statistics)"
        )

    def features(self, paths: Sequence[Path]) -> torch.Tensor:
        """The input features of audio files, as the model was trained on; a file that is
        not usable audio is a one-line :class:`AudioError` naming it."""
        extractor = make_extractor(self.config.data)
        return torch.stack([self._feature(extractor, path) for path in paths])

    def _feature(self, extractor: Any, path: Path) -> torch.Tensor:
        wave, rate = load_audio(path, self.config.data.get("max_seconds"))
        try:
            return extractor(wave, rate)
        except AudioError as exc:
            raise AudioError(exc.reason, path, exc.detail) from None

    def predict_files(
        self, paths: list[Path], speaker: str | None = None, enrol: Sequence[Path] = ()
    ) -> list[dict[str, Any]]:
        """Label and class probabilities per audio file, in order, each file's answer its
        own: under ``data.norm=speaker`` the files are normalised together only when
        ``speaker`` says they are one speaker's, by ``enrol`` utterances' statistics when
        given, else by the training set's (:meth:`normalisation` says which, in each row).
        A file that cannot be read gets ``{"file", "error"}`` (its reason, with what was
        found in brackets where known) and the others are still predicted."""
        extractor = make_extractor(self.config.data)
        images, good, rows = [], [], []
        for path in paths:
            try:
                images.append(self._feature(extractor, path))
            except AudioError as exc:
                error = f"{exc.reason} ({exc.detail})" if exc.detail else exc.reason
                rows.append({"file": str(path), "error": error})
                continue
            good.append(len(rows))
            rows.append({"file": str(path)})
        if not images:
            return rows
        how = self.normalisation(len(images), speaker, len(enrol))
        enrolled = self.features(enrol) if enrol else None
        speakers = [speaker] * len(images) if speaker is not None else None
        probabilities = self.probabilities(torch.stack(images), speakers, enrolled)
        for index, probs in zip(good, probabilities, strict=True):
            rows[index] |= {
                "label": self.label_names[int(probs.argmax())],
                "probabilities": {
                    n: float(p) for n, p in zip(self.label_names, probs, strict=True)
                },
                "normalisation": how,
            }
        return rows
