"""The plugin manager: registers the built-ins and entry points, collects named components.

Plugins implement the hooks of :mod:`ablate.hookspecs` (``KINDS`` says which hook
registers which kind); each plugin's hooks are called through pluggy, one plugin at a
time, with a ``register`` callback that records the plugin's package and version.
The built-ins (``plugins/``, imported as ``ablate_plugins``) are registered by module
name, as pytest and simonw/llm register theirs: they are there with autoload off and in a
plain checkout on ``PYTHONPATH``. Third parties announce their modules in the ``ablate``
entry-point group. A plugin that fails to import, uses an unknown hook name or registers
one name twice is recorded as a failure, pointing at its file and line, and skipped;
every other plugin keeps working.

Environment switches:

- ``ABLATE_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (the built-ins stay).
- ``ABLATE_PLUGINS=mod1,mod2``: import and register these modules explicitly.
- ``ABLATE_PLUGINS_ALLOW=pkg1,pkg2`` / ``ABLATE_PLUGINS_DENY=pkg3``: filter entry points
  by the name of the distribution that provides them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Iterable
from functools import cache
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any

import pluggy

from ablate import hookspecs
from ablate.errors import AblateError
from ablate.registry import (
    Collector,
    Component,
    Param,
    PluginFailure,
    PluginWarning,
    Registry,
    normalise,
)

__all__ = [
    "BUILTINS",
    "Component",
    "Param",
    "PluginFailure",
    "PluginWarning",
    "Registry",
    "get_registry",
    "load_registry",
]

CORE_PACKAGE = "ablate"
BUILTIN_PACKAGE = "ablate_plugins"
#: plugin name -> module of each built-in plugin
BUILTINS = {
    "patching": f"{BUILTIN_PACKAGE}.patching",
    "pos_encoding": f"{BUILTIN_PACKAGE}.pos_encoding",
    "stem": f"{BUILTIN_PACKAGE}.stem",
    "distill_loss": f"{BUILTIN_PACKAGE}.distill_loss",
    "dataset": f"{BUILTIN_PACKAGE}.datasets",
    "augment": f"{BUILTIN_PACKAGE}.augment",
}


def _make_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _split_env(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def _source(module: str | Any) -> Path | None:
    """The file of a plugin module (given as an object or a name), found without
    importing it again; None when there is none."""
    try:
        if not isinstance(module, str):
            found = inspect.getsourcefile(module if inspect.ismodule(module) else type(module))
            return Path(found) if found else None
        spec = importlib.util.find_spec(module)
    except Exception:  # a parent package that fails to import, a built-in object, ...
        return None
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin not in ("built-in", "frozen") else None


def _failure(
    plugin: str, package: str, reason: str, source: Path | None, exc: BaseException | None = None
) -> PluginFailure:
    """A failure located at the deepest line of the plugin's own code in ``exc``'s
    traceback, else at its file."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return PluginFailure(plugin, package, reason, exc.filename, exc.lineno or 0)
    if source is None:
        return PluginFailure(plugin, package, reason)
    root = source.parent if source.name == "__init__.py" else source
    frames = traceback.extract_tb(exc.__traceback__) if exc is not None else []
    for frame in reversed(frames):
        path = Path(frame.filename)
        if path == root or root in path.parents:
            return PluginFailure(plugin, package, reason, frame.filename, frame.lineno or 0)
    return PluginFailure(plugin, package, reason, str(source))


def _import(module: str) -> Any:
    """Import a built-in plugin module; in a checkout that was never pip-installed,
    ``plugins/`` beside ``ablate/`` is the built-in package."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        folder = Path(__file__).resolve().parent.parent / "plugins"
        if exc.name != BUILTIN_PACKAGE or not (folder / "__init__.py").is_file():
            raise
    spec = importlib.util.spec_from_file_location(
        BUILTIN_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[BUILTIN_PACKAGE] = package
    spec.loader.exec_module(package)
    return importlib.import_module(module)


def _builtin_plugins(failures: list[PluginFailure]) -> list[tuple[str, str, Any]]:
    found = []
    for name, module in BUILTINS.items():
        try:
            found.append((name, CORE_PACKAGE, _import(module)))
        except Exception as exc:  # e.g. a missing optional dependency: the others still work
            reason = f"failed to import: {exc!r}"
            failures.append(_failure(name, CORE_PACKAGE, reason, _source(module), exc))
    return found


def _entry_point_plugins(failures: list[PluginFailure]) -> list[tuple[str, str, Any]]:
    """Import every allowed third-party entry point; failures are recorded, not raised.

    ablate's own entry points, which an older install may still list, are skipped: the
    built-ins are registered by module name."""
    allow = {normalise(p) for p in _split_env("ABLATE_PLUGINS_ALLOW")}
    deny = {normalise(p) for p in _split_env("ABLATE_PLUGINS_DENY")}
    found = []
    for ep in entry_points(group=hookspecs.PROJECT):
        package = ep.dist.name if ep.dist is not None else "unknown"
        key = normalise(package)
        if key == CORE_PACKAGE or key in deny or (allow and key not in allow):
            continue
        try:
            found.append((ep.name, package, ep.load()))
        except Exception as exc:  # a broken third-party plugin must not break the others
            reason = f"failed to import: {exc!r}"
            failures.append(_failure(ep.name, package, reason, _source(ep.module), exc))
    found.sort(key=lambda item: (item[1], item[0]))
    return found


def _explicit_plugins(modules: Iterable[str], failures: list[PluginFailure]) -> list:
    found = []
    for module in modules:
        try:
            found.append((module, module, importlib.import_module(module)))
        except Exception as exc:
            reason = f"failed to import: {exc!r}"
            failures.append(_failure(module, module, reason, _source(module), exc))
    return found


def load_registry(
    plugins: Iterable[tuple[str, str, Any]] = (),
    autoload: bool | None = None,
    builtins: bool = True,
) -> Registry:
    """A registry of the built-ins (unless ``builtins`` is false), the entry points (unless
    autoload is off), ``ABLATE_PLUGINS`` and ``plugins``. A name two packages register is
    kept for both (using it bare is an error naming both; ``package:name`` picks one).
    Failures are recorded in ``Registry.failures``.

    ``plugins`` holds ``(plugin name, package name, module or object)`` triples.
    """
    if autoload is None:
        autoload = os.environ.get("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    registry = Registry()
    candidates = _builtin_plugins(registry.failures) if builtins else []
    candidates += _entry_point_plugins(registry.failures) if autoload else []
    candidates += _explicit_plugins(sorted(_split_env("ABLATE_PLUGINS")), registry.failures)
    candidates += list(plugins)

    manager = _make_manager()
    for plugin_name, package, plugin in candidates:
        _register_plugin(manager, registry, plugin_name, package, plugin)
    return registry


def _version(package: str, plugin: Any) -> str:
    """The version of the distribution (or, failing that, the module) behind a plugin."""
    try:
        return version(package)
    except PackageNotFoundError:
        return str(getattr(plugin, "__version__", "unknown"))


def _register_plugin(
    manager: pluggy.PluginManager, registry: Registry, name: str, package: str, plugin: Any
) -> None:
    """Register one plugin and call its hooks through pluggy, one plugin at a time, so a
    hook that raises costs only its own plugin."""
    source = _source(plugin)

    def fail(reason: str, exc: BaseException | None = None) -> None:
        registry.failures.append(_failure(name, package, reason, source, exc))

    if manager.is_registered(plugin):
        fail(f"the same module is already registered as plugin '{manager.get_name(plugin)}'")
        return
    if manager.has_plugin(name):
        fail(f"the plugin name '{name}' is already taken")
        return
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        fail(f"invalid hook implementation: {str(exc).splitlines()[0]}")
        return
    hook_to_kind = {hook: kind for kind, hook in hookspecs.KINDS.items()}
    callers = manager.get_hookcallers(plugin) or []
    if not callers:
        manager.unregister(plugin)
        fail("implements no ablate hook (is @ablate.hookimpl missing?)")
        return
    unknown = [c for c in callers if c.name not in hook_to_kind]
    if unknown:
        code = next(i.function.__code__ for i in unknown[0].get_hookimpls() if i.plugin is plugin)
        manager.unregister(plugin)
        names = ", ".join(sorted(c.name for c in unknown))
        reason = f"unknown hook {names}; known hooks: {', '.join(hookspecs.KINDS.values())}"
        registry.failures.append(
            PluginFailure(name, package, reason, code.co_filename, code.co_firstlineno)
        )
        return
    others = [p for p in manager.get_plugins() if p is not plugin]
    release = _version(package, plugin)
    collectors = [
        Collector(registry, hook_to_kind[caller.name], name, package, release) for caller in callers
    ]
    try:
        for caller, collector in zip(callers, collectors, strict=True):
            manager.subset_hook_caller(caller.name, remove_plugins=others)(register=collector)
    except Exception as exc:
        manager.unregister(plugin)
        fail(str(exc) if isinstance(exc, AblateError) else f"hook raised {exc!r}", exc)
        return
    for collector in collectors:
        collector.commit()


@cache
def get_registry() -> Registry:
    """The process-wide registry, loaded once on first use; each failure warns once."""
    registry = load_registry()
    for failure in registry.failures:
        failure.warn()
    return registry
