"""Structured configuration: one typed tree for data, protocol, model, training, distillation.

The dotted keys are the public config API (``model.patching``, ``data.n_mels``, ...).
Configs are built from these defaults, then a YAML file, then ``KEY=VALUE`` dotlist
overrides; a key that does not exist or a value of the wrong type is a one-line error.
Model presets are resolved here, once, when a config is made: every model field left
unset is filled from its preset (``model`` and the distillation teacher alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ablate.errors import AblateError
from ablate.yaml_keys import DuplicateKey, UniqueKeyLoader


def plugin(kind: str, many: bool = False) -> dict[str, Any]:
    """The metadata of a config field that names a plugin of ``kind`` (a list of them with
    ``many``); its arguments sit in the ``<field>_args`` field beside it.
    :mod:`ablate.slots` builds the slot table from these fields."""
    return {"kind": kind, "many": many}


@dataclass
class DataConfig:
    """Corpus, features and augmentation. Features are ``n_mels`` x ``frames`` log-Mel images."""

    dataset: str = field(default="synthetic", metadata=plugin("dataset"))
    root: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    #: keep only these labels (after ``label_map``); empty keeps all
    labels: list[str] = field(default_factory=list)
    #: rename or merge labels, e.g. {boredom: neutral}
    label_map: dict[str, str] = field(default_factory=dict)
    sample_rate: int = 16000
    n_mels: int = 128
    frames: int = 128
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    f_min: float = 0.0
    f_max: float | None = None
    #: "pad": speech at the left, zeros at the right, long utterances cropped (the paper's);
    #: "resize": interpolate the whole utterance to ``frames``.
    fit: str = "pad"
    #: keep up to this many frames of each utterance (0 = ``frames``); when longer than
    #: ``frames``, training takes a random ``frames``-wide crop of each utterance and
    #: evaluation averages the logits of sliding windows over the whole utterance
    max_frames: int = 0
    #: trim leading and trailing audio quieter than this many dB below the loudest 64 ms
    #: frame before extracting features (e.g. 30); null or 0: off. Unset by default, so
    #: existing studies keep their keys and cached features
    trim_db: float | None = None
    #: "logmel" (unset: ``n_mels`` x ``frames`` log-Mel images) or "egemaps" (openSMILE's
    #: 88 eGeMAPSv02 functionals per utterance; ``pip install -e ".[opensmile]"``)
    features: str | None = None
    #: input normalisation: "global" (per-Mel-bin statistics of the training fold),
    #: "utterance" (each utterance by its own per-bin statistics) or "speaker" (each
    #: speaker by the per-bin statistics of all of its own utterances, unlabelled; test
    #: speakers included; no label is read)
    norm: str = "global"
    augment: list[str] = field(default_factory=list, metadata=plugin("augment", many=True))
    augment_args: dict[str, Any] = field(default_factory=dict)
    #: extra augmented copies of each training utterance (wave-stage augmentations)
    augment_copies: int = 0
    cache: bool = True
    cache_dir: str | None = None
    workers: int = 2
    #: turn skipped (empty, corrupt, unparsable) files into an error
    strict: bool = False
    #: skip (reason ``too-long``) files longer than this, read from the header before
    #: decoding, so a stray 10-hour recording cannot exhaust memory; 0 = no limit
    max_seconds: float = 60.0


@dataclass
class ProtocolConfig:
    """How utterances are split into train / validation / test folds."""

    #: loso | speaker_kfold | holdout | random_kfold (speaker-dependent, flagged)
    split: str = "speaker_kfold"
    folds: int = 4
    #: holdout: the speakers that form the test side
    test_speakers: list[str] = field(default_factory=list)
    #: share of the training speakers (utterances for random_kfold) kept for validation
    val_fraction: float = 0.2
    #: run only the first N folds (0 = all); for quick studies
    max_folds: int = 0
    seed: int = 0
    #: LEAKY, for demonstration only: augment every utterance before splitting, as the
    #: random-split papers do; trials are flagged speaker-dependent and leaky
    augment_before_split: bool = False


@dataclass
class ModelConfig:
    """The model. ``preset`` fills every field left unset (null) when the config is made."""

    #: teacher | student | cnn | linear
    preset: str = "student"
    stem: str | None = field(default=None, metadata=plugin("stem"))
    stem_args: dict[str, Any] = field(default_factory=dict)
    patching: str | None = field(default=None, metadata=plugin("patching"))
    patching_args: dict[str, Any] = field(default_factory=dict)
    pos_encoding: str | None = field(default=None, metadata=plugin("pos_encoding"))
    pos_encoding_args: dict[str, Any] = field(default_factory=dict)
    dim: int | None = None
    depth: int | None = None
    heads: int | None = None
    dim_head: int | None = None
    mlp_dim: int | None = None
    dropout: float | None = None
    emb_dropout: float | None = None
    #: stochastic depth (ViTs; the cnn ignores it): the largest probability (the last
    #: block's) of skipping a residual block in training, rising linearly over the depth
    drop_path: float | None = None
    #: ViTs: LayerNorm over each raw patch before its projection (the authors' code);
    #: false drops it, keeping each patch's (each 128x1 frame's) energy
    patch_norm: bool | None = None
    #: ViT students: DeiT's distillation token, a second token and head trained on the
    #: teacher's signal (needs distill.enabled and a distill.loss other than none);
    #: prediction averages the two heads
    distill_token: bool | None = None


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5.0e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    #: stop when validation UA has not improved for this many epochs (0 = never)
    patience: int = 0
    #: which weights a training stage ends with: "best_val" (the epoch of the best
    #: validation UA) or "last" (a fixed schedule: the last epoch; no selection on a
    #: noisy epoch). Without a validation split every stage ends with the last epoch.
    select: str = "best_val"
    #: exponential moving average of the weights (decay per step; 0 = off): validation,
    #: test and the saved model use the averaged weights
    ema: float = 0.0
    seed: int = 0
    #: auto | cpu | cuda
    device: str = "auto"
    #: bf16 autocast on CUDA
    amp: bool = True
    compile: bool = False
    #: torch CPU threads (0 = torch's default)
    threads: int = 0


@dataclass
class DistillConfig:
    """Knowledge distillation: (a) teacher CE, (b) feature matching, (c) CE + alpha * loss."""

    enabled: bool = False
    loss: str = field(default="feature_l1", metadata=plugin("distill_loss"))
    loss_args: dict[str, Any] = field(default_factory=dict)
    alpha: float = 1.0
    teacher: ModelConfig = field(default_factory=lambda: ModelConfig(preset="teacher"))
    #: epochs of each stage; 0 skips the stage (a teacher is still trained when needed)
    teacher_epochs: int = 10
    feature_epochs: int = 5
    finetune_epochs: int = 10


@dataclass
class Config:
    """The whole tree; its sections are listed in ``CONFIG_SECTIONS``."""

    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


CONFIG_SECTIONS = ("data", "protocol", "model", "train", "distill")
#: the config sections that hold a model (``ModelConfig``)
MODEL_SECTIONS = ("model", "distill.teacher")
#: keys that change how a config runs, not what it computes: left out of a study's
#: identity and of a cached teacher's key
OPERATIONAL_KEYS = (
    "data.workers",
    "data.cache",
    "data.cache_dir",
    "train.device",
    "train.threads",
    "train.compile",
)

_VIT = dict(
    dim=256,
    heads=5,
    dim_head=64,
    mlp_dim=512,
    dropout=0.1,
    emb_dropout=0.1,
    drop_path=0.0,
    patch_norm=True,
    distill_token=False,
)
#: The paper's teacher and student (Kim & Lee 2024), the reference CNN and a linear
#: classifier (logistic regression: the openSMILE baseline's model).
PRESETS: dict[str, dict[str, Any]] = {
    "teacher": dict(_VIT, patching="vertical", pos_encoding="coordinate", stem="conv", depth=6),
    "student": dict(_VIT, patching="vertical", pos_encoding="none", stem="none", depth=3),
    "cnn": {},
    "linear": {"dropout": 0.0},
}
#: the presets that are not ViTs: no plugins, no tokens
NOT_VIT = ("cnn", "linear")
MODEL_FIELDS = tuple(f.name for f in fields(ModelConfig))
#: the model fields that name a plugin, in build order (each has ``<field>_args`` beside it)
MODEL_PLUGINS = tuple(f.name for f in fields(ModelConfig) if "kind" in f.metadata)


def resolve_model(model: DictConfig | Mapping[str, Any], where: str = "model") -> dict[str, Any]:
    """The model fields with every unset (missing or null) one filled from the preset.

    A plain mapping may leave fields out; a key that is not a model field is an error.
    """
    given = OmegaConf.to_container(model, resolve=True) if isinstance(model, DictConfig) else model
    unknown = sorted(set(given) - set(MODEL_FIELDS))
    if unknown:
        known = ", ".join(MODEL_FIELDS)
        raise AblateError(f"{where}.{unknown[0]}: not a model field; known: {known}")
    preset = given.get("preset")
    if preset not in PRESETS:
        known = ", ".join(PRESETS)
        raise AblateError(f"{where}.preset: unknown preset '{preset}'; known: {known}")
    if preset in NOT_VIT:
        for key in MODEL_PLUGINS:
            if given.get(key) is not None:
                raise AblateError(
                    f"{where}.{key}: the {preset} preset takes no {key} (it is not a ViT)"
                )
        if given.get("distill_token"):
            raise AblateError(
                f"{where}.distill_token: the {preset} preset has no tokens (it is not a ViT)"
            )
    resolved: dict[str, Any] = dict.fromkeys(MODEL_FIELDS)
    resolved.update({f"{key}_args": {} for key in MODEL_PLUGINS})
    resolved.update(PRESETS[preset])
    resolved.update({k: v for k, v in given.items() if v is not None})
    return resolved


def resolved(model: DictConfig | Mapping[str, Any], where: str = "model") -> dict[str, Any]:
    """A model section whose preset was resolved when its config was made (by
    :func:`make_config` or :func:`resolve_presets`), as a plain dict. Resolution happens
    there, once; a section that still has unset fields is a programming error, named."""
    given = OmegaConf.to_container(model, resolve=True) if isinstance(model, DictConfig) else model
    if given.get("preset") not in PRESETS:
        raise AblateError(f"{where}.preset: unknown preset {given.get('preset')!r}")
    unset = [k for k in PRESETS[given["preset"]] if given.get(k) is None]
    if unset:
        raise AblateError(
            f"{where}: {', '.join(unset)} unset; resolve the preset first "
            "(ablate.config.resolve_model)"
        )
    return dict(given)


def resolve_presets(config: DictConfig) -> DictConfig:
    """A copy of ``config`` with each model section filled from its preset."""
    config = config.copy()
    for section in MODEL_SECTIONS:
        node = OmegaConf.select(config, section)
        for key, value in resolve_model(node, section).items():
            if node[key] is None:
                node[key] = value
    return config


def _one_line(exc: OmegaConfBaseException) -> str:
    """OmegaConf's message without its multi-line 'full_key/object_type' trailer."""
    message = str(exc).splitlines()[0]
    key = getattr(exc, "full_key", None)
    return f"{key}: {message}" if key and not message.startswith(str(key)) else message


def make_config(
    *sources: Any, dotlist: list[str] | tuple[str, ...] = (), presets: bool = True
) -> DictConfig:
    """Defaults, merged with each mapping in ``sources``, then ``KEY=VALUE`` overrides,
    then (unless ``presets`` is false) the model presets."""
    config = OmegaConf.structured(Config)
    try:
        for source in sources:
            config = OmegaConf.merge(config, source)
        for item in dotlist:
            if "=" not in item:
                raise AblateError(f"override '{item}': expected KEY=VALUE")
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(dotlist)))
    except OmegaConfBaseException as exc:
        raise AblateError(f"config: {_one_line(exc)}") from None
    return resolve_presets(config) if presets else config


def identity(config: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The flattened config without its :data:`OPERATIONAL_KEYS`: what it computes. Unset
    (null) keys are left out, as they are the preset's or the code's choice: a new field
    that defaults to null changes no study's identity, so studies resume across versions."""
    return {k: v for k, v in flatten(config).items() if k not in OPERATIONAL_KEYS and v is not None}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping safely; a syntax error, a key given twice in one mapping or a
    non-mapping is a one-line error."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise AblateError(f"{path}: no such file") from None
    except DuplicateKey as exc:
        raise AblateError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise AblateError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AblateError(f"{path}: expected a YAML mapping at the top level")
    return data


def to_yaml(config: DictConfig) -> str:
    return OmegaConf.to_yaml(config, resolve=True)


def flatten(config: DictConfig | dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'model.patching': 'vertical', ...}``: every leaf under its dotted key."""
    tree = config
    if isinstance(config, DictConfig):
        tree = OmegaConf.to_container(config, resolve=True)
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
