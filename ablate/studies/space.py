"""The search space of a study: one dimension per dotted config key, checked before any trial.

Syntax (YAML-native)::

    model.pos_encoding: {choice: [coordinate, learned, sinusoidal, none]}
    train.lr: {float: [1.0e-4, 1.0e-3], log: true}
    model.depth: {int: [1, 4], step: 1}

A key under a plugin's ``*_args`` (``model.patching_args.size``) is a plugin parameter: it
is suggested only in trials whose chosen plugin has that parameter (looked up in the
registry); a parameter that no candidate plugin has is an error.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ablate.errors import AblateError
from ablate.models.build import resolve
from ablate.plugins import Registry
from ablate.studies.ranges import check_ranges

#: config key naming a plugin -> plugin kind
PLUGIN_KEYS: dict[str, str] = {
    "model.patching": "patching",
    "model.pos_encoding": "pos_encoding",
    "model.stem": "stem",
    "distill.teacher.patching": "patching",
    "distill.teacher.pos_encoding": "pos_encoding",
    "distill.teacher.stem": "stem",
    "distill.loss": "distill_loss",
    "data.dataset": "dataset",
}
#: ``*_args`` section -> the plugin key whose component owns those parameters
ARGS_KEYS: dict[str, str] = {f"{key}_args": key for key in PLUGIN_KEYS}
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Dim:
    """One swept key: a choice, a float range or an int range."""

    key: str
    kind: str  # choice | float | int
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    #: for a plugin parameter: the plugin key and the component names that have the parameter
    owner: str | None = None
    active_for: frozenset[str] = frozenset()

    def grid(self) -> list[Any]:
        """The finite values of this dimension (grid search)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        raise AblateError(
            f"space.{self.key}: a float range has no grid; use {{choice: [...]}} or "
            "optuna.sampler random or tpe"
        )

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Space:
    """The validated dimensions, plugin choices first, their parameters after."""

    dims: tuple[Dim, ...]

    def grid(self) -> dict[str, list[Any]]:
        return {dim.key: dim.grid() for dim in self.dims}

    def grid_size(self) -> int:
        return len(list(itertools.product(*self.grid().values())))

    def suggest(self, trial: optuna.Trial, base: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
        """The trial's config (base plus suggested values) and the values it was given."""
        config = base.copy()
        chosen: dict[str, Any] = {}
        for dim in self.dims:
            if dim.owner is not None and plugin_name(config, dim.owner) not in dim.active_for:
                continue
            chosen[dim.key] = dim.suggest(trial)
            OmegaConf.update(config, dim.key, chosen[dim.key], merge=True)
        return config, chosen


def plugin_name(config: DictConfig, key: str) -> str | None:
    """The effective plugin name at ``key`` (model presets filled in)."""
    section, _, field_name = key.rpartition(".")
    if section in ("model", "distill.teacher"):
        return resolve(OmegaConf.select(config, section)).get(field_name)
    return OmegaConf.select(config, key)


def _parse_dim(key: str, spec: Any) -> Dim:
    where = f"space.{key}"
    if not isinstance(spec, Mapping):
        raise AblateError(
            f"{where}: expected a mapping such as {{choice: [a, b]}}, "
            f"{{float: [lo, hi], log: true}} or {{int: [lo, hi], step: 1}}; got {spec!r}"
        )
    kinds = [k for k in ("choice", "float", "int") if k in spec]
    if len(kinds) != 1:
        raise AblateError(f"{where}: give exactly one of choice, float, int (got {sorted(spec)})")
    kind = kinds[0]
    allowed = {
        "choice": {"choice"},
        "float": {"float", "log", "step"},
        "int": {"int", "log", "step"},
    }
    extra = sorted(set(spec) - allowed[kind])
    if extra:
        raise AblateError(
            f"{where}: unknown option '{extra[0]}' for {kind} "
            f"(valid: {', '.join(sorted(allowed[kind]))})"
        )
    value = spec[kind]
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise AblateError(f"{where}: choice needs a non-empty list, got {value!r}")
        for item in value:
            if not isinstance(item, _SCALARS):
                raise AblateError(f"{where}: choice values must be scalars, got {item!r}")
        return Dim(key, kind, choices=tuple(value))
    number = int if kind == "int" else (int, float)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, number) and not isinstance(v, bool) for v in value)
    ):
        raise AblateError(f"{where}: {kind} needs [low, high] as {kind}s, got {value!r}")
    low, high = value
    if low > high:
        raise AblateError(f"{where}: low {low} is above high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise AblateError(f"{where}: log must be true or false, got {log!r}")
    step = spec.get("step")
    if step is not None and (not isinstance(step, number) or isinstance(step, bool) or step <= 0):
        raise AblateError(f"{where}: step must be a positive {kind}, got {step!r}")
    if log and (low <= 0 or step not in (None, 1)):
        raise AblateError(f"{where}: a log range needs low > 0 and no step")
    return Dim(key, kind, low=low, high=high, log=log, step=step)


def candidates(dims: dict[str, Dim], base: DictConfig, key: str) -> list[str]:
    """The plugin names ``key`` can take: the swept choices or the base config's value."""
    if key in dims:
        return [str(c) for c in dims[key].choices]
    name = plugin_name(base, key)
    return [] if name is None else [name]


def _check_key(base: DictConfig, key: str) -> None:
    """An unknown dotted key names the section and its valid keys."""
    node: Any = base
    parts = key.split(".")
    for depth, part in enumerate(parts):
        prefix = ".".join(parts[:depth])
        if prefix in ARGS_KEYS or prefix in ("data.dataset_args", "data.augment_args"):
            return  # free-form plugin arguments, checked against the plugin below
        if not isinstance(node, DictConfig) or part not in node:
            valid = list(node.keys()) if isinstance(node, DictConfig) else []
            close = difflib.get_close_matches(part, valid, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            section = f" in {prefix}" if prefix else ""
            raise AblateError(
                f"space.{key}: unknown key '{part}'{section} ({hint}valid: {', '.join(valid)})"
            )
        node = node[part]


def _check_values(base: DictConfig, dim: Dim) -> None:
    """Each value of a non-plugin dimension must fit the config's type."""
    values = dim.choices if dim.kind == "choice" else (dim.low, dim.high)
    for value in values:
        trial = base.copy()
        try:
            OmegaConf.update(trial, dim.key, value, merge=True)
        except OmegaConfBaseException as exc:
            message = str(exc).splitlines()[0]
            raise AblateError(f"space.{dim.key}: value {value!r} does not fit: {message}") from None
        check_ranges(trial, "space.")


def parse_space(raw: Any, base: DictConfig, registry: Registry) -> Space:
    """Validate the ``space:`` section against the config schema and the plugin registry."""
    if raw is None or (isinstance(raw, Mapping) and not raw):
        raise AblateError(
            "space: empty search space; sweep at least one key, "
            "e.g. model.pos_encoding: {choice: [coordinate, none]}"
        )
    if not isinstance(raw, Mapping):
        raise AblateError(f"space: expected a mapping of dotted keys, got {raw!r}")
    dims: dict[str, Dim] = {}
    for key, spec in raw.items():
        _check_key(base, str(key))
        dims[str(key)] = _parse_dim(str(key), spec)

    plain, plugin_args = [], []
    for key, dim in dims.items():
        owner_args, _, param = key.rpartition(".")
        if owner_args in ARGS_KEYS:
            plugin_args.append(_bind_param(dims, base, registry, dim, ARGS_KEYS[owner_args], param))
            continue
        if key in PLUGIN_KEYS:
            if dim.kind != "choice":
                raise AblateError(f"space.{key}: a plugin is swept with {{choice: [...]}}")
            for name in dim.choices:
                _check_plugin(registry, PLUGIN_KEYS[key], name, f"space.{key}")
        else:
            _check_values(base, dim)
        plain.append(dim)
    return Space(tuple(plain + plugin_args))


def _check_plugin(registry: Registry, kind: str, name: Any, where: str) -> None:
    try:
        registry.get(kind, str(name))
    except AblateError as exc:
        raise AblateError(f"{where}: {exc}") from None


def _bind_param(
    dims: dict[str, Dim], base: DictConfig, registry: Registry, dim: Dim, owner: str, param: str
) -> Dim:
    """Attach a plugin-parameter dimension to the candidate plugins that have it."""
    kind = PLUGIN_KEYS[owner]
    names = candidates(dims, base, owner)
    having = []
    for name in names:
        _check_plugin(registry, kind, name, f"space.{owner}")
        component = registry.get(kind, name)
        if any(p.name == param for p in component.params):
            values = dim.choices if dim.kind == "choice" else (dim.low, dim.high)
            for value in values:
                component.check_args({param: value}, f"space.{owner}_args")
            having.append(name)
    if not having:
        described = "; ".join(
            f"{name}: {', '.join(p.name for p in registry.get(kind, name).params) or 'none'}"
            for name in names
        )
        raise AblateError(
            f"space.{dim.key}: no candidate {kind} has a parameter '{param}' "
            f"(candidates and their parameters: {described or 'none'})"
        )
    return Dim(
        dim.key,
        dim.kind,
        dim.choices,
        dim.low,
        dim.high,
        dim.log,
        dim.step,
        owner,
        frozenset(having),
    )
