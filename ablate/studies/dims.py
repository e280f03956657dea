"""One swept key of a study's space: a choice, a float range or an int range, parsed and
checked from its YAML mapping (see :mod:`.space` for the syntax)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from ablate.errors import AblateError

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


def _finite(value: Any, number: type | tuple[type, ...]) -> bool:
    """A finite ``number`` (a bool is not one)."""
    return isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)


def parse_dim(key: str, raw: Any) -> Dim:
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
