"""Before a study's first trial: the corpus against every swept protocol, and the plugins
of every point of its space, built and run.

Only the swept keys that change what a plugin is built from are enumerated (the plugin
slots, their arguments and :data:`CONTEXT_KEYS`; a float range by its two ends); every
other key keeps one value. Each distinct part is checked once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from ablate.errors import AblateError
from ablate.registry import Registry
from ablate.slots import SLOTS, TEACHER
from ablate.studies.dims import Dim
from ablate.studies.space import POINT
from ablate.studies.spec import Study

#: besides the slots and their arguments, the keys a plugin's build context is made of
CONTEXT_KEYS = (
    "data.n_mels",
    "data.frames",
    "data.features",
    "model.preset",
    "model.dim",
    "distill.enabled",
    f"{TEACHER}.preset",
    f"{TEACHER}.dim",
)


def _shapes_a_plugin(key: str) -> bool:
    return (
        key in CONTEXT_KEYS
        or key in SLOTS
        or any(key.startswith(f"{slot.args_key}.") for slot in SLOTS.values())
    )


def _values(dim: Dim) -> list[Any]:
    every = _ends(dim)
    return every if _shapes_a_plugin(dim.key) else every[:1]


def points(study: Study) -> Iterator[tuple[DictConfig, dict[str, Any]]]:
    """Each point's trial config and the plugin-relevant values that make it."""
    space = study.space
    if space.points:  # a grid of listed points: each one
        trials = [{POINT: index} for index in range(len(space.points))]
    else:
        dims = space.dims
        combos = itertools.product(*(_values(dim) for dim in dims))
        trials = [dict(zip((dim.key for dim in dims), combo, strict=True)) for combo in combos]
    for params in trials:
        config, chosen = space.suggest(optuna.trial.FixedTrial(params), study.base)
        yield config, {k: v for k, v in chosen.items() if _shapes_a_plugin(k)}


def check_data(study: Study, corpus: Any) -> None:
    """The corpus forms the folds of every swept protocol (its classes and speakers):
    a split it cannot make fails every trial, so it stops the run before the first."""
    from ablate.data.splits import check_split

    dims = [dim for dim in study.space.dims if dim.key.startswith("protocol.")]
    for combo in itertools.product(*(_ends(dim) for dim in dims)):
        protocol = study.base.protocol.copy()
        for dim, value in zip(dims, combo, strict=True):
            OmegaConf.update(protocol, dim.key.removeprefix("protocol."), value, merge=True)
        try:
            check_split(corpus, protocol)
        except AblateError as exc:
            where = ", ".join(f"{dim.key}={value}" for dim, value in zip(dims, combo, strict=True))
            raise AblateError(f"{exc} (at {where})" if where else str(exc)) from None


def _ends(dim: Dim) -> list[Any]:
    return [dim.low, dim.high] if dim.kind == "float" else dim.grid()


def check_study(study: Study, registry: Registry, progress: bool = True) -> Any:
    """Every check a study runs before its first trial, nothing trained or recorded: the
    corpus loads and forms the folds of every swept protocol, and every point's plugins
    build and run on a small batch. Returns the corpus."""
    from ablate.data.pipeline import load_corpus

    corpus = load_corpus(study.base.data, registry, progress)
    check_data(study, corpus)
    check_space(study, len(corpus.label_names), registry)
    return corpus


def check_space(study: Study, num_classes: int, registry: Registry) -> None:
    """Build and dry-run the plugins of every point; the first problem is one line that
    also names the point."""
    from ablate.training.preflight import check_config

    seen: dict[str, Any] = {}
    for config, chosen in points(study):
        try:
            check_config(config, num_classes, registry, seen)
        except AblateError as exc:
            where = ", ".join(f"{k}={v}" for k, v in chosen.items())
            raise AblateError(f"{exc} (at {where})" if where else str(exc)) from None
