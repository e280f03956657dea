"""The registry: named components of each kind, their typed parameters, and the plugins
that failed to load (see :mod:`ablate.plugins` for how plugins are loaded into it)."""

from __future__ import annotations

import inspect
import math
import re
import typing
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.hookspecs import KINDS


class PluginWarning(UserWarning):
    """A plugin could not be used; shown once, pointing at the plugin's file."""


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a component: keyword name, type and default."""

    name: str
    type: type
    default: Any

    @property
    def type_name(self) -> str:
        return getattr(self.type, "__name__", str(self.type))


@dataclass(frozen=True)
class Component:
    """A registered, named building block of one kind, and the package (and its version)
    that provides it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    params: tuple[Param, ...]
    package: str
    plugin: str
    version: str = "unknown"

    @property
    def qualified(self) -> str:
        """``package:name``: the name that stays unique when two packages use ``name``."""
        return f"{self.package}:{self.name}"

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolved(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value: the defaults, then ``args``."""
        return {**self.defaults(), **args}

    def check_args(self, args: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Validate ``args`` against the parameters; ``where`` names the config key."""
        known = {p.name: p for p in self.params}
        checked = {}
        for key, value in args.items():
            param = known.get(key)
            if param is None:
                options = ", ".join(known) or "none"
                raise AblateError(
                    f"{where}.{key}: {self.kind} '{self.name}' has no parameter '{key}' "
                    f"(its parameters: {options})"
                )
            checked[key] = _coerce(value, param, f"{where}.{key}")
        return checked

    def build(self, context: Any, args: Mapping[str, Any] | None = None, where: str = "") -> Any:
        """Instantiate with validated ``args`` (``where`` is the config key for errors);
        the engine builds through :func:`ablate.slots.build_slot`, which also checks the
        contract."""
        where = where or f"{self.kind}_args"
        return self.factory(context, **self.check_args(args or {}, where))


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, why, and where (its file and line, when known)."""

    plugin: str
    package: str
    reason: str
    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        return f"plugin '{self.plugin}' ({self.package}): {self.reason}"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def warn(self) -> None:
        """Warn once, at the plugin's file rather than at ablate's."""
        warnings.warn_explicit(
            str(self), PluginWarning, self.file or f"<{self.package}>", self.line or 0
        )


def normalise(package: str) -> str:
    """A distribution name compared the way pip does (PEP 503): ``My_Pkg`` == ``my-pkg``."""
    return re.sub(r"[-_.]+", "-", package).lower()


@dataclass
class Registry:
    """All components by kind, plus the plugins that failed to load.

    Two packages may register the same name: both are kept, and using the bare name is
    then an error naming both; ``package:name`` picks one."""

    components: dict[str, list[Component]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS}
    )
    failures: list[PluginFailure] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        """The names to choose from: each bare name, or ``package:name`` where two
        packages share it."""
        components = self._kind(kind)
        count = Counter(c.name for c in components)
        return sorted(c.name if count[c.name] == 1 else c.qualified for c in components)

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` (or ``package:name``) of ``kind``; an unknown or
        ambiguous name is a one-line error listing the choices."""
        components = self._kind(kind)
        package, _, bare = name.rpartition(":")
        found = [
            c
            for c in components
            if c.name == bare and (not package or normalise(c.package) == normalise(package))
        ]
        if len(found) == 1:
            return found[0]
        if found:
            both = " and ".join(f"{c.package} {c.version}" for c in found)
            picks = " or ".join(c.qualified for c in found)
            raise AblateError(f"{kind} '{name}' is registered by {both}; choose {picks}")
        known = ", ".join(self.names(kind)) or "none registered"
        failed = ", ".join(sorted({f"'{f.plugin}' ({f.package})" for f in self.failures}))
        note = f"; plugins that failed to load (see ablate plugins): {failed}" if failed else ""
        raise AblateError(f"unknown {kind} '{name}'; known: {known}{note}")

    def all(self) -> list[Component]:
        return [
            c
            for kind in self.components
            for c in sorted(self.components[kind], key=lambda c: (c.name, c.package))
        ]

    def _kind(self, kind: str) -> list[Component]:
        if kind not in self.components:
            known = ", ".join(self.components)
            raise AblateError(f"unknown plugin kind '{kind}'; known: {known}")
        return self.components[kind]


def _coerce(value: Any, param: Param, where: str) -> Any:
    """Accept ``value`` if it fits the parameter's type (ints widen to float)."""
    expected = param.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float, str, bool) and (
        not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    ):
        raise AblateError(f"{where}: expected {param.type_name}, got {value!r}")
    if expected is float and not math.isfinite(value):
        raise AblateError(f"{where}: expected a finite float, got {value!r}")
    return value


def _params_of(factory: Callable[..., Any]) -> tuple[Param, ...]:
    """Keyword parameters after the context argument, each with a type hint and default."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        signature = inspect.signature(target)
        hints = typing.get_type_hints(target)
    except (TypeError, ValueError, NameError) as exc:
        raise TypeError(f"cannot read the factory's signature: {exc}") from None
    positional = [p for p in signature.parameters.values() if p.name != "self"]
    if not positional or positional[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    ):
        raise TypeError("the factory must take the build context as its first argument")
    params = []
    for p in positional[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty or p.name not in hints:
            raise TypeError(f"parameter '{p.name}' needs a type hint and a default")
        params.append(Param(p.name, hints[p.name], p.default))
    return tuple(params)


class Collector:
    """The ``register`` callback handed to one plugin's hook for one kind."""

    def __init__(self, registry: Registry, kind: str, plugin: str, package: str, version: str):
        self.registry, self.kind, self.plugin = registry, kind, plugin
        self.package, self.version = package, version
        self.added: list[Component] = []

    def __call__(self, name: str, factory: Callable[..., Any], description: str) -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise AblateError(
                f"{self.kind} name must be a non-empty string without ':', got {name!r}"
            )
        if any(c.name == name for c in self.added):
            raise AblateError(f"{self.kind} '{name}' is registered twice by {self.package}")
        try:
            params = _params_of(factory)
        except TypeError as exc:
            raise AblateError(f"{self.kind} '{name}': {exc}") from None
        component = Component(
            self.kind,
            name,
            factory,
            description.strip(),
            params,
            self.package,
            self.plugin,
            self.version,
        )
        self.added.append(component)

    def commit(self) -> None:
        """Add what the hook registered (only once the whole hook ran)."""
        self.registry.components[self.kind].extend(self.added)
