"""The search space of a study: one dimension per dotted config key, checked before any trial.

Syntax (YAML-native)::

    model.pos_encoding: {choice: [coordinate, learned, sinusoidal, none]}
    train.lr: {float: [1.0e-4, 1.0e-3], log: true}
    model.depth: {int: [1, 4], step: 1}

The plugin slots are those of :mod:`ablate.slots`. A key under a slot's arguments
(``model.patching_args.size``, ``data.augment_args.mixup.alpha``) is a plugin parameter:
it is suggested only in trials whose chosen plugin has that parameter (looked up in the
registry); a parameter that no candidate plugin has is an error.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ablate.config import MODEL_SECTIONS, resolve_model, resolve_presets
from ablate.errors import AblateError
from ablate.ranges import check_ranges, check_swept_features
from ablate.registry import Registry
from ablate.slots import SLOTS, Slot, lookup


def _args_keys() -> dict[str, Slot]:
    """A slot's arguments section -> its slot."""
    return {slot.args_key: slot for slot in SLOTS.values()}


_SCALARS = (str, int, float, bool, type(None))
#: the most points a grid may have (a grid is listed in full, in every process)
MAX_GRID = 100_000


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
    #: for a plugin parameter: the slot key and the component names that have the parameter
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

    def size(self) -> int:
        """How many values :meth:`grid` lists, without listing an int range."""
        if self.kind == "int":
            return len(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return len(self.grid())  # a choice's values, or a float range's error

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)


#: the one Optuna parameter of a grid whose points are listed (:attr:`Space.points`)
POINT = "ablate.grid_point"


@dataclass(frozen=True)
class Space:
    """The validated dimensions, plugin choices first, their parameters after.

    ``base_args`` maps each single-plugin slot to the plugin its base-config arguments
    belong to: a trial that sweeps another plugin into the slot starts without them.
    ``points``, when set, lists a grid's distinct points: a swept plugin parameter is
    inactive for plugins that lack it, so the plain product would repeat trials."""

    dims: tuple[Dim, ...]
    base_args: tuple[tuple[str, str], ...] = ()
    points: tuple[dict[str, Any], ...] = ()

    def grid(self) -> dict[str, list[Any]]:
        self.grid_size()  # a grid too large to list is refused first
        return {dim.key: dim.grid() for dim in self.dims}

    def grid_size(self) -> int:
        """Points of the grid's product (a one-line error past :data:`MAX_GRID`)."""
        size = math.prod(dim.size() for dim in self.dims)
        if size > MAX_GRID:
            raise AblateError(
                f"space: the grid has {size} points (more than {MAX_GRID}); sweep fewer "
                "values, or use optuna.sampler random or tpe with optuna.n_trials"
            )
        return size

    def distinct_points(self, base: DictConfig) -> list[dict[str, Any]]:
        """The grid's points, each the values a trial would be given, once each."""
        self.grid_size()
        grid = self.grid()
        seen: dict[str, dict[str, Any]] = {}
        for combo in itertools.product(*grid.values()):
            chosen = self._values(
                optuna.trial.FixedTrial(dict(zip(grid, combo, strict=True))), base
            )
            seen.setdefault(repr(sorted(chosen.items())), chosen)
        return list(seen.values())

    def suggest(self, trial: optuna.Trial, base: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
        """The trial's config (``base`` plus the suggested values, then its model presets)
        and the values it was given."""
        if self.points:
            index = trial.suggest_categorical(POINT, list(range(len(self.points))))
            chosen = dict(self.points[index])
        else:
            chosen = self._values(trial, base)
        return resolve_presets(self._apply(base, chosen)), chosen

    def _values(self, trial: optuna.Trial, base: DictConfig) -> dict[str, Any]:
        """The values a trial draws: a plugin parameter only where its plugin is chosen."""
        config = base.copy()
        chosen: dict[str, Any] = {}
        for dim in self.dims:
            if dim.owner is not None and not dim.active_for & set(plugin_names(config, dim.owner)):
                continue
            chosen[dim.key] = dim.suggest(trial)
            OmegaConf.update(config, dim.key, chosen[dim.key], merge=True)
        return chosen

    def _apply(self, base: DictConfig, chosen: dict[str, Any]) -> DictConfig:
        config = base.copy()
        for key, owner in self.base_args:
            if key in chosen and chosen[key] != owner:  # the base's arguments are owner's
                OmegaConf.update(config, SLOTS[key].args_key, {}, merge=False)
        for key, value in chosen.items():
            OmegaConf.update(config, key, value, merge=True)
        return config


def plugin_names(config: DictConfig, key: str) -> list[str]:
    """The plugin names in effect at slot ``key`` (model presets filled in)."""
    slot = SLOTS[key]
    section = OmegaConf.select(config, slot.section)
    if slot.section in MODEL_SECTIONS:
        section = resolve_model(section, slot.section)
    return [name for name, _ in slot.read(section)]


def _finite(value: Any, number: type | tuple[type, ...]) -> bool:
    """A finite ``number`` (a bool is not one)."""
    return isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)


def _parse_dim(key: str, raw: Any) -> Dim:
    where = f"space.{key}"
    if not isinstance(raw, Mapping):
        raise AblateError(
            f"{where}: expected a mapping such as {{choice: [a, b]}}, "
            f"{{float: [lo, hi], log: true}} or {{int: [lo, hi], step: 1}}; got {raw!r}"
        )
    kinds = [k for k in ("choice", "float", "int") if k in raw]
    if len(kinds) != 1:
        raise AblateError(f"{where}: give exactly one of choice, float, int (got {sorted(raw)})")
    kind = kinds[0]
    allowed = {
        "choice": {"choice"},
        "float": {"float", "log", "step"},
        "int": {"int", "log", "step"},
    }
    extra = sorted(set(raw) - allowed[kind])
    if extra:
        raise AblateError(
            f"{where}: unknown option '{extra[0]}' for {kind} "
            f"(valid: {', '.join(sorted(allowed[kind]))})"
        )
    value = raw[kind]
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise AblateError(f"{where}: choice needs a non-empty list, got {value!r}")
        for index, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                raise AblateError(f"{where}: choice values must be scalars, got {item!r}")
            if item in value[:index]:
                raise AblateError(
                    f"{where}: choice value {item!r} is listed twice (each would be its own trial)"
                )
        return Dim(key, kind, choices=tuple(value))
    number = int if kind == "int" else (int, float)
    if not isinstance(value, list) or len(value) != 2 or not all(_finite(v, number) for v in value):
        raise AblateError(f"{where}: {kind} needs [low, high] as finite {kind}s, got {value!r}")
    low, high = value
    if low > high:
        raise AblateError(f"{where}: low {low} is above high {high}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise AblateError(f"{where}: log must be true or false, got {log!r}")
    step = raw.get("step")
    if step is not None and not (_finite(step, number) and step > 0):
        raise AblateError(f"{where}: step must be a positive {kind}, got {step!r}")
    if log and (low <= 0 or step not in (None, 1)):
        raise AblateError(f"{where}: a log range needs low > 0 and no step")
    return Dim(key, kind, low=low, high=high, log=log, step=step)


def candidates(dims: dict[str, Dim], base: DictConfig, key: str) -> list[str]:
    """The plugin names ``key`` can take: the swept choices or the base config's."""
    if key in dims:
        return [str(c) for c in dims[key].choices]
    return plugin_names(base, key)


def _check_key(base: DictConfig, key: str) -> None:
    """An unknown dotted key names the section and its valid keys."""
    node: Any = base
    parts = key.split(".")
    for depth, part in enumerate(parts):
        prefix = ".".join(parts[:depth])
        if prefix in _args_keys():
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
    for key, value in raw.items():
        _check_key(base, str(key))
        dims[str(key)] = _parse_dim(str(key), value)

    plain, plugin_args = [], []
    for key, dim in dims.items():
        owner = _args_owner(key)
        if owner is not None:
            plugin_args.append(_bind_param(dims, base, registry, dim, *owner))
            continue
        slot = SLOTS.get(key)
        if slot is not None and not slot.many:
            if dim.kind != "choice":
                raise AblateError(f"space.{key}: a plugin is swept with {{choice: [...]}}")
            for name in dim.choices:
                lookup(key, name, registry, where=f"space.{key}")
        else:
            _check_values(base, dim)
        plain.append(dim)
    check_swept_features(base, [(d.key, d.choices or (d.low, d.high)) for d in plain])
    return Space(tuple(plain + plugin_args))


def _args_owner(key: str) -> tuple[Slot, str | None, str] | None:
    """For a key under a slot's arguments: the slot, the plugin name (a list slot's
    arguments are per name) and the parameter; None for any other key."""
    for args_key, slot in _args_keys().items():
        if not key.startswith(f"{args_key}."):
            continue
        rest = key.removeprefix(f"{args_key}.")
        name, _, param = rest.partition(".") if slot.many else (None, "", rest)
        if not param or "." in param:
            example = f"{args_key}.<name>.<parameter>" if slot.many else f"{args_key}.<parameter>"
            raise AblateError(f"space.{key}: sweep one plugin parameter, as {example}")
        return slot, name, param
    return None


def _bind_param(
    dims: dict[str, Dim],
    base: DictConfig,
    registry: Registry,
    dim: Dim,
    slot: Slot,
    name: str | None,
    param: str,
) -> Dim:
    """Attach a plugin-parameter dimension to the candidate plugins that have it."""
    names = candidates(dims, base, slot.key)
    if name is not None:  # a list slot: the parameter belongs to the one plugin it names
        if name not in names:
            raise AblateError(
                f"space.{dim.key}: '{name}' is not in {slot.key} ({', '.join(names) or 'empty'})"
            )
        names = [name]
    having = []
    for candidate in names:
        component = lookup(slot.key, candidate, registry, where=f"space.{slot.key}")
        if any(p.name == param for p in component.params):
            values = dim.choices if dim.kind == "choice" else (dim.low, dim.high)
            for value in values:
                component.check_args({param: value}, f"space.{slot.args_where(candidate)}")
            having.append(candidate)
    if not having:
        described = "; ".join(
            f"{n}: {', '.join(p.name for p in lookup(slot.key, n, registry).params) or 'none'}"
            for n in names
        )
        raise AblateError(
            f"space.{dim.key}: no candidate {slot.kind} has a parameter '{param}' "
            f"(candidates and their parameters: {described or 'none'})"
        )
    return replace(dim, owner=slot.key, active_for=frozenset(having))
