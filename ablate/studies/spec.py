"""A study file: name, base config, search space and Optuna settings, validated up front.

Nothing trains until :func:`load_study` returns: every key, plugin name, plugin parameter,
type and range in the file (and in the ``KEY=VALUE`` overrides) is checked first, and the
first problem is a one-line :class:`AblateError` naming the key, the value and what is valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.config import MODEL_SECTIONS, Config, identity, load_yaml, make_config, resolve_model
from ablate.errors import AblateError
from ablate.plugins import CORE_PACKAGE
from ablate.ranges import SEED_RANGE, check_ranges, check_value
from ablate.registry import Registry
from ablate.slots import SLOTS, lookup
from ablate.studies.names import check_name
from ablate.studies.space import Space, parse_space

SECTIONS = [f.name for f in dataclasses.fields(Config)]
TOP_KEYS = ["name", "description", *SECTIONS, "space", "optuna", "verdict"]
#: the keys of the ``verdict:`` section
VERDICT_KEYS = ["margin"]
SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "percentile", "hyperband", "successive_halving")
OBJECTIVES = (
    "test_uar_mean",
    "test_war_mean",
    "test_f1_mean",
    "val_uar_mean",
    "val_war_mean",
)


@dataclass(frozen=True)
class Settings:
    """The ``optuna:`` section."""

    sampler: str = "grid"
    n_trials: int = 0
    metric: str = "test_uar_mean"
    direction: str = "maximize"
    pruner: str = "none"
    pruner_args: dict[str, Any] = field(default_factory=dict)
    #: every trial trains once per seed (``train.seed``) and reports the mean; None (unset):
    #: once, with the trial's own ``train.seed`` (the base config's or the swept value)
    seeds: tuple[int, ...] | None = None
    sampler_seed: int = 0

    def seeds_for(self, config: DictConfig) -> tuple[int, ...]:
        """The seeds a trial with ``config`` trains with."""
        return self.seeds if self.seeds is not None else (int(config.train.seed),)


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


def _unknown(where: str, key: str, valid: Sequence[str]) -> AblateError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    prefix = f"{where}: " if where else ""
    return AblateError(f"{prefix}unknown key '{key}' ({hint}valid: {', '.join(valid)})")


def _check_section(data: Any, schema: DictConfig, where: str) -> None:
    """Unknown keys in a config section, recursively; mappings (plugin ``*_args``,
    ``data.label_map``) are free-form: their types are checked when the config is made."""
    if not isinstance(data, Mapping):
        raise AblateError(f"{where}: expected a mapping, got {data!r}")
    for key, value in data.items():
        if str(key) not in schema:
            raise _unknown(where, str(key), list(schema.keys()))
        child = schema[str(key)]
        free_form = OmegaConf.get_type(child) is dict if isinstance(child, DictConfig) else True
        if not free_form and value is not None:
            _check_section(value, child, f"{where}.{key}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _settings(raw: Any, space: Space, base: DictConfig) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise AblateError(f"optuna: expected a mapping, got {raw!r}")
    valid = [f.name for f in dataclasses.fields(Settings)]
    for key in raw:
        if key not in valid:
            raise _unknown("optuna", str(key), valid)
    values = dict(raw)
    sampler = values.get("sampler", "grid")
    if sampler not in SAMPLERS:
        raise AblateError(
            f"optuna.sampler: unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}"
        )
    pruner = values.get("pruner", "none") or "none"
    if pruner not in PRUNERS:
        raise AblateError(f"optuna.pruner: unknown pruner {pruner!r}; known: {', '.join(PRUNERS)}")
    metric = values.get("metric", "test_uar_mean")
    if metric not in OBJECTIVES:
        raise AblateError(
            f"optuna.metric: unknown metric {metric!r}; known: {', '.join(OBJECTIVES)}"
        )
    direction = values.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise AblateError(f"optuna.direction: {direction!r}; expected maximize or minimize")
    n_trials = values.get("n_trials")
    if n_trials is None:
        if sampler != "grid":
            raise AblateError(f"optuna.n_trials: required with sampler {sampler}")
        n_trials = len(space.points) or len(space.distinct_points(base))
    if not _is_int(n_trials) or n_trials < 1:
        raise AblateError(f"optuna.n_trials: expected a positive int, got {n_trials!r}")
    check_value("n_trials", n_trials, (1, math.inf, True), "optuna.")
    if sampler == "grid":
        space.grid()  # a float range has no grid: fail now, not in the first trial
    seeds = values.get("seeds")
    seeds = [seeds] if _is_int(seeds) else seeds
    if seeds is not None and (
        not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds)
    ):
        raise AblateError(f"optuna.seeds: expected a non-empty list of ints, got {seeds!r}")
    for seed in seeds or ():
        check_value("seeds", seed, SEED_RANGE, "optuna.")
    pruner_args = values.get("pruner_args") or {}
    if not isinstance(pruner_args, Mapping):
        raise AblateError(f"optuna.pruner_args: expected a mapping, got {pruner_args!r}")
    sampler_seed = values.get("sampler_seed", 0)
    if not _is_int(sampler_seed):
        raise AblateError(f"optuna.sampler_seed: expected an int, got {sampler_seed!r}")
    check_value("sampler_seed", sampler_seed, SEED_RANGE, "optuna.")
    return Settings(
        sampler,
        n_trials,
        metric,
        direction,
        pruner,
        dict(pruner_args),
        None if seeds is None else tuple(seeds),
        sampler_seed,
    )


def _margin(raw: Any) -> float | None:
    """The ``verdict:`` section's margin: a number in (0, 1), on the metric's scale."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise AblateError(f"verdict: expected a mapping such as {{margin: 0.03}}, got {raw!r}")
    for key in raw:
        if key not in VERDICT_KEYS:
            raise _unknown("verdict", str(key), VERDICT_KEYS)
    margin = raw.get("margin")
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 < margin < 1:
        raise AblateError(
            f"verdict.margin: expected the smallest difference that matters, a number "
            f"between 0 and 1 (e.g. 0.03 UA), got {margin!r}"
        )
    return float(margin)


def _check_seeds(settings: Settings, base: DictConfig, space: Space, seed_set: bool) -> None:
    """One seed rule: ``optuna.seeds`` when given, else each trial's ``train.seed``; a
    ``train.seed`` that says otherwise (set to another value, or swept) is an error."""
    if settings.seeds is None:
        return
    swept = any(dim.key == "train.seed" for dim in space.dims)
    if swept or (seed_set and settings.seeds != (base.train.seed,)):
        where = "space.train.seed" if swept else f"train.seed={base.train.seed}"
        raise AblateError(
            f"optuna.seeds {list(settings.seeds)} and {where} both set the seeds; keep one "
            "(without optuna.seeds, each trial trains once with its train.seed)"
        )


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


def _seeds_identity(base: DictConfig, raw_space: Any, settings: Settings) -> Any:
    """The seeds in a study's identity: a study without ``optuna.seeds`` keeps the key it
    had when seeds defaulted to [0], unless its seed comes from a swept ``train.seed``."""
    if settings.seeds is not None:
        return list(settings.seeds)
    if isinstance(raw_space, Mapping) and "train.seed" in raw_space:
        return "train.seed"
    return [int(base.train.seed)]


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
        "seeds": _seeds_identity(base, raw_space, settings),
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
            raise _unknown("", str(key), TOP_KEYS)
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
                raise _unknown(f"override '{item}'", section, (*SECTIONS, "optuna"))
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
    settings = _settings(OmegaConf.to_container(optuna_tree)["optuna"], space, base)
    if settings.sampler == "grid":
        points = space.distinct_points(base)
        if len(points) < space.grid_size():
            space = dataclasses.replace(space, points=tuple(points))
    seed_set = "seed" in (sections.get("train") or {}) or any(
        item.partition("=")[0].strip().lstrip("+~") == "train.seed" for item in overrides
    )
    _check_seeds(settings, base, space, seed_set)
    space_blob = OmegaConf.to_container(OmegaConf.create(raw_space), resolve=True)
    return Study(
        name=name,
        path=path,
        base=base,
        space=space,
        settings=settings,
        key=study_key(name, base, space_blob, settings, plugin_versions(base, space, registry)),
        description=str(data.get("description", "")),
        margin=_margin(data.get("verdict")),
    )
