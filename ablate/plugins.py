"""The plugin manager: loads entry points, collects named components, resolves them.

Plugins are announced in the ``ablate`` entry-point group (built-ins included) and
implement the hooks of :mod:`ablate.hookspecs`. A plugin that fails to import, uses an
unknown hook name or registers a name already taken is recorded as a failure and
skipped; every other plugin keeps working.

Environment switches:

- ``ABLATE_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (tests, debugging).
- ``ABLATE_PLUGINS=mod1,mod2``: import and register these modules explicitly.
- ``ABLATE_PLUGINS_ALLOW=pkg1,pkg2`` / ``ABLATE_PLUGINS_DENY=pkg3``: filter entry points
  by the name of the distribution that provides them.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ablate import hookspecs
from ablate.errors import AblateError

#: kind -> hook name. Adding a kind is one line here plus one hook spec.
KINDS: dict[str, str] = {
    "patching": "register_patchings",
    "pos_encoding": "register_pos_encodings",
    "stem": "register_stems",
    "distill_loss": "register_distill_losses",
    "dataset": "register_datasets",
    "augment": "register_augments",
}
HOOK_TO_KIND = {hook: kind for kind, hook in KINDS.items()}
CORE_PACKAGE = "ablate"


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
    """A registered, named building block of one kind."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    params: tuple[Param, ...]
    package: str
    plugin: str

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

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
        """Instantiate with validated ``args`` (``where`` is the config key for errors)."""
        where = where or f"{self.kind}_args"
        return self.factory(context, **self.check_args(args or {}, where))


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why."""

    plugin: str
    package: str
    reason: str

    def __str__(self) -> str:
        return f"plugin '{self.plugin}' ({self.package}): {self.reason}"


@dataclass
class Registry:
    """All components by kind and name, plus the plugins that failed to load."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    failures: list[PluginFailure] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; a one-line error lists the known names."""
        components = self._kind(kind)
        if name not in components:
            known = ", ".join(sorted(components)) or "none registered"
            raise AblateError(f"unknown {kind} '{name}'; known: {known}")
        return components[name]

    def all(self) -> list[Component]:
        return [c for kind in KINDS for _, c in sorted(self.components[kind].items())]

    def _kind(self, kind: str) -> dict[str, Component]:
        if kind not in self.components:
            raise AblateError(f"unknown plugin kind '{kind}'; known: {', '.join(KINDS)}")
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


def _normalise(package: str) -> str:
    """A distribution name compared the way pip does (PEP 503): ``My_Pkg`` == ``my-pkg``."""
    return re.sub(r"[-_.]+", "-", package).lower()


class _Collector:
    """The ``register`` callback handed to one plugin's hook for one kind."""

    def __init__(self, registry: Registry, kind: str, plugin: str, package: str):
        self.registry, self.kind, self.plugin, self.package = registry, kind, plugin, package
        self.added: list[Component] = []

    def __call__(self, name: str, factory: Callable[..., Any], description: str) -> None:
        existing = self.registry.components[self.kind].get(name)
        if existing is not None:
            raise AblateError(
                f"duplicate {self.kind} '{name}': registered by {existing.package} "
                f"({existing.plugin}) and by {self.package} ({self.plugin})"
            )
        if not isinstance(name, str) or not name:
            raise AblateError(f"{self.kind} name must be a non-empty string, got {name!r}")
        try:
            params = _params_of(factory)
        except TypeError as exc:
            raise AblateError(f"{self.kind} '{name}': {exc}") from None
        component = Component(
            self.kind, name, factory, description.strip(), params, self.package, self.plugin
        )
        self.registry.components[self.kind][name] = component
        self.added.append(component)


def _make_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _split_env(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def _entry_point_plugins(failures: list[PluginFailure]) -> list[tuple[str, str, Any]]:
    """Import every allowed entry point; failures are recorded, not raised."""
    allow = {_normalise(p) for p in _split_env("ABLATE_PLUGINS_ALLOW")}
    deny = {_normalise(p) for p in _split_env("ABLATE_PLUGINS_DENY")}
    found = []
    for ep in entry_points(group=hookspecs.PROJECT):
        package = ep.dist.name if ep.dist is not None else "unknown"
        key = _normalise(package)
        if key in deny or (allow and key not in allow and key != CORE_PACKAGE):
            continue
        try:
            found.append((ep.name, package, ep.load()))
        except Exception as exc:  # a broken third-party plugin must not break the others
            failures.append(PluginFailure(ep.name, package, f"failed to import: {exc!r}"))
    # The core package registers first, so a third party cannot take a built-in name.
    found.sort(key=lambda item: (item[1] != CORE_PACKAGE, item[1], item[0]))
    return found


def _explicit_plugins(modules: Iterable[str], failures: list[PluginFailure]) -> list:
    found = []
    for module in modules:
        try:
            found.append((module, module, importlib.import_module(module)))
        except Exception as exc:
            failures.append(PluginFailure(module, module, f"failed to import: {exc!r}"))
    return found


def load_registry(
    plugins: Iterable[tuple[str, str, Any]] = (), autoload: bool | None = None
) -> Registry:
    """Build a registry from entry points (unless disabled) plus explicit plugins.

    ``plugins`` holds ``(plugin name, package name, module or object)`` triples.
    """
    if autoload is None:
        autoload = os.environ.get("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    registry = Registry()
    candidates = _entry_point_plugins(registry.failures) if autoload else []
    candidates += _explicit_plugins(sorted(_split_env("ABLATE_PLUGINS")), registry.failures)
    candidates += list(plugins)

    manager = _make_manager()
    for plugin_name, package, plugin in candidates:
        _register_plugin(manager, registry, plugin_name, package, plugin)
    for failure in registry.failures:
        warnings.warn(str(failure), stacklevel=2)
    return registry


def _register_plugin(
    manager: pluggy.PluginManager, registry: Registry, name: str, package: str, plugin: Any
) -> None:
    fail = registry.failures.append
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        fail(PluginFailure(name, package, f"invalid hook implementation: {exc}"))
        return
    except ValueError as exc:  # the same name or module registered twice
        fail(PluginFailure(name, package, f"not registered: {exc}"))
        return
    callers = manager.get_hookcallers(plugin) or []
    if not callers:
        manager.unregister(plugin)
        fail(
            PluginFailure(name, package, "implements no ablate hook (is @ablate.hookimpl missing?)")
        )
        return
    unknown = sorted(c.name for c in callers if c.name not in HOOK_TO_KIND)
    if unknown:
        manager.unregister(plugin)
        fail(
            PluginFailure(
                name,
                package,
                f"unknown hook {', '.join(unknown)}; known hooks: {', '.join(HOOK_TO_KIND)}",
            )
        )
        return
    collected: list[_Collector] = []
    try:
        for caller in callers:
            kind = HOOK_TO_KIND[caller.name]
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    collector = _Collector(registry, kind, name, package)
                    collected.append(collector)
                    impl.function(register=collector)
    except Exception as exc:
        for collector in collected:
            for component in collector.added:
                del registry.components[component.kind][component.name]
        manager.unregister(plugin)
        reason = str(exc) if isinstance(exc, AblateError) else f"hook raised {exc!r}"
        fail(PluginFailure(name, package, reason))


@cache
def get_registry() -> Registry:
    """The process-wide registry, loaded once on first use."""
    return load_registry()
