"""What runs, arms and experiments are called: short arm names, and the mark that keeps a
speaker-dependent (leaky) run out of an honest run's view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: how a run, arm or figure label says its test speakers were also trained on
LEAK = "speaker-dependent"


def arm_name(swept: Mapping[str, Any], digits: int = 4) -> str:
    """``pos_encoding=coordinate, patching=vertical``: the swept values, by their last key
    part; floats (TPE's and random's samples) to ``digits`` significant digits. Only a
    label: arms are told apart by their full values."""
    shown = (
        f"{k.rsplit('.', 1)[-1]}={f'{v:.{digits}g}' if isinstance(v, float) else v}"
        for k, v in swept.items()
    )
    return ", ".join(shown) or "base config"


def leaky(config: Any) -> bool:
    """Whether a config's test folds share speakers (random folds) or augmented copies
    (augmentation before the split) with training."""
    protocol = config.protocol
    return protocol.split == "random_kfold" or bool(protocol.augment_before_split)


def study_leaks(study: Any) -> bool:
    """Whether any trial of ``study`` (its base config and swept values) leaks."""
    if leaky(study.base):
        return True
    for dim in study.space.dims:
        values = dim.grid() if dim.kind == "choice" else []
        if dim.key == "protocol.split" and "random_kfold" in values:
            return True
        if dim.key == "protocol.augment_before_split" and any(values):
            return True
    return False


def experiment_name(study: Any) -> str:
    """The MLflow experiment of ``study``: its name, or ``<name> (speaker-dependent)`` when
    a trial may leak, so a leaky run never ranks beside an honest one in one view."""
    return f"{study.name} ({LEAK})" if study_leaks(study) else study.name


def arm_label(config: Any, swept: Mapping[str, Any]) -> str:
    """The arm as a person reads it in a run name or optuna-dashboard: floats to 3
    significant digits (``lr=0.00105``), marked speaker-dependent when the trial leaks."""
    mark = f" ({LEAK})" if leaky(config) else ""
    return f"{arm_name(swept, 3)}{mark}"


def trial_run_name(number: int, config: Any, swept: Mapping[str, Any], seeds: int) -> str:
    """``pos_encoding=coordinate, 3 seeds (trial 2)``: the arm first, so the runs table
    reads as the comparison; marked speaker-dependent when the trial leaks."""
    plural = "" if seeds == 1 else "s"
    return f"{arm_label(config, swept)}, {seeds} seed{plural} (trial {number})"
