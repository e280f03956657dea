"""Tiny, fast training configs on a small synthetic corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ablate.config import make_config
from ablate.data.pipeline import load_corpus
from ablate.plugins import get_registry

TINY = [
    "data.n_mels=32",
    "data.frames=32",
    "data.dataset_args.speakers=4",
    "data.dataset_args.per_class=4",
    "data.dataset_args.classes=4",
    "data.dataset_args.seconds=0.5",
    "data.workers=1",
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.dim_head=16",
    "model.mlp_dim=64",
    "protocol.folds=2",
    "train.epochs=2",
    "train.batch_size=16",
    "distill.teacher.dim=32",
    "distill.teacher.depth=1",
    "distill.teacher.heads=2",
    "distill.teacher.dim_head=16",
    "distill.teacher.mlp_dim=64",
    "distill.teacher.stem_args.width=0.25",
    "distill.teacher_epochs=1",
    "distill.feature_epochs=1",
    "distill.finetune_epochs=1",
]


def tiny_config(*overrides: str):
    return make_config(dotlist=[*TINY, *overrides])


def tiny_yaml(path: Path, *overrides: str) -> Path:
    """``TINY`` plus ``overrides`` written as a config file, for `ablate train`."""
    tree: dict = {}
    for item in [*TINY, *overrides]:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The tiny synthetic corpus, loaded once for the training tests."""
    cache = tmp_path_factory.mktemp("tiny-cache")
    return load_corpus(
        tiny_config(f"data.cache_dir={cache}").data, progress=False, registry=get_registry()
    )
