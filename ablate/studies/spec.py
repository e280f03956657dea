"""A study file: name, base config, search space and Optuna settings, validated up front.

Nothing trains until :func:`load_study` returns: every key, plugin name, plugin parameter,
type and range in the file (and in the ``KEY=VALUE`` overrides) is checked first, and the
first problem is a one-line :class:`AblateError` naming the key, the value and what is valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.config import MODEL_SECTIONS, Config, make_config, resolve_model
from ablate.errors import AblateError
from ablate.identity import identity
from ablate.plugins import CORE_PACKAGE
from ablate.ranges import check_ranges
from ablate.registry import Registry
from ablate.slots import SLOTS, lookup
from ablate.studies.names import check_name
from ablate.studies.settings import (
    Settings,
    check_seeds,
    parse_margin,
    parse_settings,
    seeds_identity,
    unknown_key,
)
from ablate.studies.space import Space, parse_space
from ablate.yaml_file import load_yaml

SECTIONS = [f.name for f in dataclasses.fields(Config)]
TOP_KEYS = ["name", "description", *SECTIONS, "space", "optuna", "verdict"]


#: the keys of the ``verdict:`` section
@dataclass(frozen=True)
class Study:
    """A validated study: ``key`` (name + config hash) names its Optuna study and MLflow run.

    ``base`` is the config as written (model presets not yet applied), so that a swept
    ``model.preset`` fills each trial's model from its own preset (``Space.suggest``).

    ``margin`` (``verdict: {margin: M}``) is the smallest difference that matters: how
    ``ablate compare`` judges the arms (within +-M is ``equivalent``), not what a trial
    trains. It is not part of ``key``: a study run again with another margin has the same
    trials, so it resumes them and is judged anew (the parent run's ``ablate.margin`` tag
    holds the margin of the latest run).
    """

    name: str
    path: Path
    base: DictConfig
    space: Space
    settings: Settings
    key: str
    description: str = ""
    margin: float | None = None


def _check_section(data: Any, schema: DictConfig, where: str) -> None:
    """Unknown keys in a config section, recursively; mappings (plugin ``*_args``,
    ``data.label_map``) are free-form: their types are checked when the config is made."""
    if not isinstance(data, Mapping):
        raise AblateError(f"{where}: expected a mapping, got {data!r}")
    for key, value in data.items():
        if str(key) not in schema:
            raise unknown_key(where, str(key), list(schema.keys()))
        child = schema[str(key)]
        free_form = OmegaConf.get_type(child) is dict if isinstance(child, DictConfig) else True
        if not free_form and value is not None:
            _check_section(value, child, f"{where}.{key}")


def _check_plugins(base: DictConfig, space: Space, registry: Registry) -> Space:
    """Every plugin name and its arguments in the base config, each against the plugin
    it belongs to; the space, told which plugin owns the base arguments of a swept slot
    (a trial that sweeps another plugin in starts without them)."""
    swept = {dim.key for dim in space.dims}
    owners = []
    for key, slot in SLOTS.items():
        section = OmegaConf.select(base, slot.section)
        if slot.section in MODEL_SECTIONS:
            section = resolve_model(section, slot.section)
        for name, args in slot.read(section):
            lookup(key, name, registry).check_args(args, slot.args_where(name))
            if key in swept and not slot.many and args:
                owners.append((key, name))
    return dataclasses.replace(space, base_args=tuple(owners))


def _check_overrides(overrides: Sequence[str], space: Space, path: Path) -> None:
    """A ``KEY=VALUE`` override of a swept key would be ignored (each trial sets the key
    from the space) yet change the study's key: refused, naming the way out."""
    for item in overrides:
        key = item.partition("=")[0].strip().lstrip("+~")
        for dim in space.dims:
            if key == dim.key or dim.key.startswith(f"{key}.") or key.startswith(f"{dim.key}."):
                raise AblateError(
                    f"override '{item}': {dim.key} is swept in space:, which sets it in "
                    f"every trial; edit the space in {path.name} instead"
                )


def plugin_versions(base: DictConfig, space: Space, registry: Registry) -> dict[str, str]:
    """``{package: version}`` of each third-party package whose plugins the study can use
    (the base config's and every swept choice): new plugin code is a new study. ablate's
    own built-ins are left out, so a study keeps its key across ablate's versions."""
    swept = {dim.key: dim for dim in space.dims}
    versions = {}
    for key, slot in SLOTS.items():
        if key in swept:
            names = [str(choice) for choice in swept[key].choices]
        else:
            section = OmegaConf.select(base, slot.section)
            if slot.section in MODEL_SECTIONS:
                section = resolve_model(section, slot.section)
            names = [name for name, _ in slot.read(section)]
        for name in names:
            component = lookup(key, name, registry)
            if component.package != CORE_PACKAGE:
                versions[component.package] = component.version
    return versions


def study_key(
    name: str,
    base: DictConfig,
    raw_space: Any,
    settings: Settings,
    plugins: Mapping[str, str] | None = None,
) -> str:
    """``name-<hash>``: the same config, space, objective and third-party plugin versions
    give the same key."""
    flat = identity(base)
    objective = {
        "sampler": settings.sampler,
        "metric": settings.metric,
        "direction": settings.direction,
        "seeds": seeds_identity(base, raw_space, settings),
        "sampler_seed": settings.sampler_seed,
    }
    identity_of = {"config": flat, "space": raw_space, "optuna": objective}
    if plugins:
        identity_of["plugins"] = dict(plugins)
    blob = json.dumps(identity_of, sort_keys=True)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def load_study(path: str | Path, registry: Registry, overrides: Sequence[str] = ()) -> Study:
    """Read and validate a study file; ``overrides`` are ``KEY=VALUE`` for the base config."""
    path = Path(path)
    try:
        return _load(path, overrides, registry)
    except AblateError as exc:
        raise AblateError(f"{path.name}: {str(exc).removeprefix(f'{path}: ')}") from None


def _load(path: Path, overrides: Sequence[str], registry: Registry) -> Study:
    data = load_yaml(path)
    for key in data:
        if key not in TOP_KEYS:
            raise unknown_key("", str(key), TOP_KEYS)
    name = data.get("name")
    check_name(name)
    schema = OmegaConf.structured(Config)
    sections = {key: data[key] for key in SECTIONS if data.get(key) is not None}
    for key, value in sections.items():
        _check_section(value, schema[key], key)
    optuna_overrides = [item for item in overrides if item.startswith("optuna.")]
    overrides = [item for item in overrides if not item.startswith("optuna.")]
    for item in overrides:
        tree = OmegaConf.to_container(OmegaConf.from_dotlist([item])) if "=" in item else {}
        for section, value in tree.items():
            if section not in SECTIONS:
                raise unknown_key(f"override '{item}'", section, (*SECTIONS, "optuna"))
            _check_section(value, schema[section], section)
    base = make_config(sections, dotlist=list(overrides), presets=False)
    check_ranges(base)
    raw_space = data.get("space")
    space = parse_space(raw_space, base, registry)
    _check_overrides(overrides, space, path)
    space = _check_plugins(base, space, registry)
    optuna_tree = OmegaConf.merge(
        OmegaConf.create({"optuna": data.get("optuna") or {}}),
        OmegaConf.from_dotlist(optuna_overrides),
    )
    settings = parse_settings(OmegaConf.to_container(optuna_tree)["optuna"], space, base)
    if settings.sampler == "grid":
        points = space.distinct_points(base)
        if len(points) < space.grid_size():
            space = dataclasses.replace(space, points=tuple(points))
    seed_set = "seed" in (sections.get("train") or {}) or any(
        item.partition("=")[0].strip().lstrip("+~") == "train.seed" for item in overrides
    )
    check_seeds(settings, base, space, seed_set)
    space_blob = OmegaConf.to_container(OmegaConf.create(raw_space), resolve=True)
    return Study(
        name=name,
        path=path,
        base=base,
        space=space,
        settings=settings,
        key=study_key(name, base, space_blob, settings, plugin_versions(base, space, registry)),
        description=str(data.get("description", "")),
        margin=parse_margin(data.get("verdict")),
    )
