"""The slot table: every config key that names a plugin, and the one way to build one.

A *slot* is a place in the config where a plugin is chosen (``model.patching``), together
with the plugin kind it takes, the hook that registers that kind, where its arguments
live (``model.patching_args``), what its factory receives first, and the contract
(:mod:`ablate.contracts`) the built object honours. The registry, ``ablate plugins``, the
study space and spec, model building, the data pipeline, augmentation and distillation
all read this table, and every plugin is built through :func:`build_slot`.

Adding a kind is its hook spec in :mod:`ablate.hookspecs` plus one row below (and the
config field that names it, and the engine code that uses what it builds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from ablate.contracts import (
    Augment,
    Contract,
    DatasetAdapter,
    DistillLoss,
    Patching,
    PositionalEncoding,
    Stem,
)
from ablate.errors import AblateError, first_line

if TYPE_CHECKING:
    from ablate.plugins import Component, Registry


@dataclass(frozen=True)
class Slot:
    """One config key that names a plugin (or, with ``many``, a list of plugins)."""

    key: str
    kind: str
    hook: str
    base: type[Contract]
    #: what the factory receives as its first argument
    context: str
    #: a list of names; each one's arguments sit under ``<args_key>.<name>``
    many: bool = False

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


#: The model's parts. The distillation teacher has a twin of each.
MODEL_SLOTS = (
    Slot("model.patching", "patching", "register_patchings", Patching, "ModelShape"),
    Slot(
        "model.pos_encoding",
        "pos_encoding",
        "register_pos_encodings",
        PositionalEncoding,
        "ModelShape",
    ),
    Slot("model.stem", "stem", "register_stems", Stem, "ModelShape"),
)
TEACHER = "distill.teacher"
SLOTS: dict[str, Slot] = {
    slot.key: slot
    for slot in (
        *MODEL_SLOTS,
        *(replace(s, key=f"{TEACHER}.{s.field}") for s in MODEL_SLOTS),
        Slot(
            "distill.loss", "distill_loss", "register_distill_losses", DistillLoss, "DistillShape"
        ),
        Slot("data.dataset", "dataset", "register_datasets", DatasetAdapter, "Path | None"),
        Slot("data.augment", "augment", "register_augments", Augment, "None", many=True),
    )
}


def kinds() -> dict[str, str]:
    """Plugin kind -> the hook that registers it, in table order."""
    return {slot.kind: slot.hook for slot in SLOTS.values()}


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


def lookup(key: str, name: str, registry: Registry | None = None, where: str = "") -> Component:
    """The component ``name`` for slot ``key``; an unknown name is a one-line error under
    ``where`` (the config key by default) listing the known names."""
    from ablate.plugins import get_registry

    registry = registry or get_registry()
    try:
        return registry.get(slot_of(key).kind, str(name))
    except AblateError as exc:
        raise AblateError(f"{where or key}: {exc}") from None


def _reason(exc: Exception) -> str:
    """A plugin's exception in one line: a ValueError is its message, anything else is
    also named by its type (it is likely a bug in the plugin)."""
    text = first_line(exc)
    return text if type(exc) is ValueError else f"{type(exc).__name__}: {text}"


def build_slot(
    key: str,
    name: str,
    args: Mapping[str, Any] | None,
    context: Any,
    registry: Registry | None = None,
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
        raise AblateError(f"{where}: {describe(component)}: {_reason(exc)}") from None
    problem = slot.base.problem(built)
    if problem:
        raise AblateError(f"{key}: {describe(component)} {problem}")
    return built


def build_chosen(
    key: str,
    section: Mapping[str, Any] | DictConfig,
    context: Any,
    registry: Registry | None = None,
) -> list[Any]:
    """Every plugin chosen at ``key`` in its config ``section``, built (see ``build_slot``)."""
    return [
        build_slot(key, name, args, context, registry) for name, args in slot_of(key).read(section)
    ]
