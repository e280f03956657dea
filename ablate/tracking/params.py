"""The params a run logs: only what the config used, each value resolved.

A flattened config holds every key, used or not: unset ones (``null``: the preset's or
the code's choice), a section that was off (``distill.*`` while distillation is off) and
the arguments of augmentations the config does not apply. MLflow's Compare view lists
them all; here they are left out, and ``train.device = auto`` is logged as the device that
ran (``cpu``), so each param is a fact about the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ablate.identity import flatten

#: the keys of a section that stay when the section is off (the switch itself)
SWITCHES = {"distill": "distill.enabled"}


def _off(key: str, values: Mapping[str, Any]) -> bool:
    """Whether ``key`` belongs to a section or plugin the config does not use."""
    section = key.partition(".")[0]
    if section in SWITCHES and values.get(SWITCHES[section]) is False:
        return key != SWITCHES[section]
    if key.startswith("data.augment_args."):
        name = key.removeprefix("data.augment_args.").partition(".")[0]
        return name not in (values.get("data.augment") or [])
    return False


def _unset(value: Any) -> bool:
    """``null``, or an empty mapping (a plugin's arguments when it takes none)."""
    return value is None or (isinstance(value, Mapping) and not value)


def used_params(config: Any, extra: Mapping[str, Any] = (), device: str | None = None) -> dict:
    """``config`` flattened, less its unset keys and the sections it leaves off, with
    ``extra`` (each used plugin's arguments, defaults filled in) and ``train.device``
    as the device that ran, when given."""
    flat = {**flatten(config), **dict(extra)}
    params = {k: v for k, v in flat.items() if not _unset(v) and not _off(k, flat)}
    if device is not None and "train.device" in params:
        params["train.device"] = device
    return params


def without_off(params: Mapping[str, Any], keys: Iterable[str] = ()) -> dict[str, Any]:
    """``params`` (already flat) less the keys of sections that were off and ``keys``."""
    dropped = set(keys)
    return {k: v for k, v in params.items() if k not in dropped and not _off(k, params)}
