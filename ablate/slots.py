"""The slot table: every config key that names a plugin, and the one way to build one.

A *slot* is a place in the config where a plugin is chosen (``model.patching``). The table
is read off the config schema (:func:`ablate.config.plugin` fields), so a slot's kind,
its hook (:data:`ablate.hookspecs.KINDS`), its contract (:data:`ablate.contracts.CONTRACTS`)
and its arguments' key (``model.patching_args``) are each written once. The registry,
``ablate plugins``, the study space and spec, model building, the data pipeline,
augmentation and distillation all read this table, and every plugin is built through
:func:`build_slot`.

Adding a kind is its hook spec and ``KINDS`` entry, its contract, and the config field
that names it (plus the engine code that uses what it builds); the table follows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablate.config import Config
from ablate.contracts import CONTRACTS, Contract
from ablate.errors import AblateError, first_line, origin
from ablate.hookspecs import KINDS
from ablate.registry import Component, Registry


@dataclass(frozen=True)
class Slot:
    """One config key that names a plugin (or, with ``many``, a list of plugins)."""

    key: str
    kind: str
    #: a list of names; each one's arguments sit under ``<args_key>.<name>``
    many: bool = False

    @property
    def hook(self) -> str:
        return KINDS[self.kind]

    @property
    def base(self) -> type[Contract]:
        return CONTRACTS[self.kind]

    @property
    def section(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def field(self) -> str:
        return self.key.rpartition(".")[2]

    @property
    def args_key(self) -> str:
        return f"{self.key}_args"

    def args_where(self, name: str) -> str:
        """The config key of ``name``'s arguments."""
        return f"{self.args_key}.{name}" if self.many else self.args_key

    def read(self, section: Mapping[str, Any] | DictConfig) -> list[tuple[str, dict[str, Any]]]:
        """The plugin names chosen in ``section`` (the slot's config section), each with
        its arguments; nothing where the slot is unset."""
        section = _plain(section)
        value, args = section.get(self.field), section.get(f"{self.field}_args") or {}
        names = [] if value is None else list(value) if self.many else [value]
        chosen = []
        for name in map(str, names):
            own = (args.get(name) or {}) if self.many else args
            if not isinstance(own, Mapping):
                raise AblateError(f"{self.args_where(name)}: expected a mapping, got {own!r}")
            chosen.append((name, dict(own)))
        return chosen


def _rows(node: Any, prefix: str = "") -> Iterator[Slot]:
    """The slots of a config dataclass instance, recursively, in field order."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if "kind" in f.metadata:
            yield Slot(f"{prefix}{f.name}", f.metadata["kind"], f.metadata["many"])
        elif dataclasses.is_dataclass(value):
            yield from _rows(value, f"{prefix}{f.name}.")


#: config key -> slot, for every plugin-naming field of the config schema
SLOTS: dict[str, Slot] = {slot.key: slot for slot in _rows(Config())}
#: the distillation teacher's model section (a twin of ``model``)
TEACHER = "distill.teacher"


def model_slots(section: str) -> list[Slot]:
    """The slots of a model section (``model`` or ``distill.teacher``), in build order."""
    return [slot for slot in SLOTS.values() if slot.section == section]


def slot_of(key: str) -> Slot:
    try:
        return SLOTS[key]
    except KeyError:
        raise AblateError(f"{key}: not a plugin slot; slots: {', '.join(SLOTS)}") from None


def _plain(section: Mapping[str, Any] | DictConfig | None) -> dict[str, Any]:
    if isinstance(section, DictConfig):
        return OmegaConf.to_container(section, resolve=True)
    return dict(section or {})


def describe(component: Component) -> str:
    """``patching 'square' (ablate)``: the plugin and its package, for messages."""
    return f"{component.kind} '{component.name}' ({component.package})"


def lookup(key: str, name: str, registry: Registry, where: str = "") -> Component:
    """The component ``name`` for slot ``key``; an unknown name is a one-line error under
    ``where`` (the config key by default) listing the known names."""
    try:
        return registry.get(slot_of(key).kind, str(name))
    except AblateError as exc:
        raise AblateError(f"{where or key}: {exc}") from None


@dataclass(frozen=True)
class Used:
    """A plugin a config uses: where it is chosen, its component, and every argument
    (the defaults filled in): what provenance records of it."""

    slot: Slot
    component: Component
    args: dict[str, Any]

    @property
    def where(self) -> str:
        """Where it is chosen: ``model.patching``; ``data.augment.mixup`` in a list."""
        return f"{self.slot.key}.{self.component.name}" if self.slot.many else self.slot.key

    @property
    def params(self) -> dict[str, Any]:
        """Its arguments under their config keys: ``{"model.patching_args.width": 1}``."""
        where = self.slot.args_where(self.component.name)
        return {f"{where}.{k}": v for k, v in self.args.items()}

    @property
    def source(self) -> str:
        """``vertical (ablate 0.1.0)``: the plugin, its package and the package's version."""
        c = self.component
        return f"{c.name} ({c.package} {c.version})"


def used(config: DictConfig, registry: Registry, sections: tuple[str, ...] = ()) -> list[Used]:
    """Every plugin a config (presets resolved) uses, in table order, each named where it
    is chosen (``model.patching``; ``data.augment.mixup`` for a list); the distillation
    slots only when distillation is on; only ``sections`` when given."""
    found = []
    for key, slot in SLOTS.items():
        top = key.partition(".")[0]
        if (sections and slot.section not in sections) or (
            top == "distill" and not config.distill.enabled
        ):
            continue
        for name, args in slot.read(OmegaConf.select(config, slot.section)):
            component = lookup(key, name, registry)
            checked = component.check_args(args, slot.args_where(name))
            found.append(Used(slot, component, component.resolved(checked)))
    return found


def _reason(exc: Exception) -> str:
    """A plugin's exception in one line: a ValueError is its message (written for the
    user); anything else is likely a bug in the plugin, so it is named by its type and
    the line that raised it."""
    text = first_line(exc)
    if type(exc) is ValueError:
        return text
    return f"{type(exc).__name__}: {text} (at {origin(exc)})"


def build_slot(
    key: str, name: str, args: Mapping[str, Any] | None, context: Any, registry: Registry
) -> Any:
    """Look up ``name`` in slot ``key``, check ``args`` against its parameters, build it
    with ``context`` and check the result against the slot's contract.

    Anything that goes wrong, whatever the plugin raises, is one :class:`AblateError`
    naming the config key, the plugin and its package.
    """
    slot = slot_of(key)
    component = lookup(key, name, registry)
    where = slot.args_where(component.name)
    checked = component.check_args(args or {}, where)
    try:
        built = component.factory(context, **checked)
    except AblateError:
        raise  # the one-line message its author wrote for the user
    except Exception as exc:
        blamed = where if checked else key  # its arguments only when some were set
        raise AblateError(f"{blamed}: {describe(component)}: {_reason(exc)}") from exc
    problem = slot.base.problem(built)
    if problem:
        raise AblateError(f"{key}: {describe(component)} {problem}")
    return built


def build_chosen(
    key: str, section: Mapping[str, Any] | DictConfig, context: Any, registry: Registry
) -> list[Any]:
    """Every plugin chosen at ``key`` in its config ``section``, built (see ``build_slot``)."""
    return [
        build_slot(key, name, args, context, registry) for name, args in slot_of(key).read(section)
    ]
