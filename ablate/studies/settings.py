"""A study file's ``optuna:`` and ``verdict:`` sections, and the seed rule: how trials are
drawn and scored, and the smallest effect the study's verdicts judge against."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from ablate.errors import AblateError
from ablate.ranges import SEED_RANGE, check_value
from ablate.studies.space import Space

VERDICT_KEYS = ["margin"]
SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "percentile", "hyperband", "successive_halving")
OBJECTIVES = (
    "test_uar_mean",
    "test_war_mean",
    "test_f1_mean",
    "val_uar_mean",
    "val_war_mean",
)


@dataclass(frozen=True)
class Settings:
    """The ``optuna:`` section."""

    sampler: str = "grid"
    n_trials: int = 0
    metric: str = "test_uar_mean"
    direction: str = "maximize"
    pruner: str = "none"
    pruner_args: dict[str, Any] = field(default_factory=dict)
    #: every trial trains once per seed (``train.seed``) and reports the mean; None (unset):
    #: once, with the trial's own ``train.seed`` (the base config's or the swept value)
    seeds: tuple[int, ...] | None = None
    sampler_seed: int = 0

    def seeds_for(self, config: DictConfig) -> tuple[int, ...]:
        """The seeds a trial with ``config`` trains with."""
        return self.seeds if self.seeds is not None else (int(config.train.seed),)


def unknown_key(where: str, key: str, valid: Sequence[str]) -> AblateError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    prefix = f"{where}: " if where else ""
    return AblateError(f"{prefix}unknown key '{key}' ({hint}valid: {', '.join(valid)})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_settings(raw: Any, space: Space, base: DictConfig) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise AblateError(f"optuna: expected a mapping, got {raw!r}")
    valid = [f.name for f in dataclasses.fields(Settings)]
    for key in raw:
        if key not in valid:
            raise unknown_key("optuna", str(key), valid)
    values = dict(raw)
    sampler = values.get("sampler", "grid")
    if sampler not in SAMPLERS:
        raise AblateError(
            f"optuna.sampler: unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}"
        )
    pruner = values.get("pruner", "none") or "none"
    if pruner not in PRUNERS:
        raise AblateError(f"optuna.pruner: unknown pruner {pruner!r}; known: {', '.join(PRUNERS)}")
    metric = values.get("metric", "test_uar_mean")
    if metric not in OBJECTIVES:
        raise AblateError(
            f"optuna.metric: unknown metric {metric!r}; known: {', '.join(OBJECTIVES)}"
        )
    direction = values.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise AblateError(f"optuna.direction: {direction!r}; expected maximize or minimize")
    n_trials = values.get("n_trials")
    if n_trials is None:
        if sampler != "grid":
            raise AblateError(f"optuna.n_trials: required with sampler {sampler}")
        n_trials = len(space.points) or len(space.distinct_points(base))
    if not _is_int(n_trials) or n_trials < 1:
        raise AblateError(f"optuna.n_trials: expected a positive int, got {n_trials!r}")
    check_value("n_trials", n_trials, (1, math.inf, True), "optuna.")
    if sampler == "grid":
        space.grid()  # a float range has no grid: fail now, not in the first trial
    seeds = values.get("seeds")
    seeds = [seeds] if _is_int(seeds) else seeds
    if seeds is not None and (
        not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds)
    ):
        raise AblateError(f"optuna.seeds: expected a non-empty list of ints, got {seeds!r}")
    for seed in seeds or ():
        check_value("seeds", seed, SEED_RANGE, "optuna.")
    pruner_args = values.get("pruner_args") or {}
    if not isinstance(pruner_args, Mapping):
        raise AblateError(f"optuna.pruner_args: expected a mapping, got {pruner_args!r}")
    sampler_seed = values.get("sampler_seed", 0)
    if not _is_int(sampler_seed):
        raise AblateError(f"optuna.sampler_seed: expected an int, got {sampler_seed!r}")
    check_value("sampler_seed", sampler_seed, SEED_RANGE, "optuna.")
    return Settings(
        sampler,
        n_trials,
        metric,
        direction,
        pruner,
        dict(pruner_args),
        None if seeds is None else tuple(seeds),
        sampler_seed,
    )


def parse_margin(raw: Any) -> float | None:
    """The ``verdict:`` section's margin: a number in (0, 1), on the metric's scale."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise AblateError(f"verdict: expected a mapping such as {{margin: 0.03}}, got {raw!r}")
    for key in raw:
        if key not in VERDICT_KEYS:
            raise unknown_key("verdict", str(key), VERDICT_KEYS)
    margin = raw.get("margin")
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 < margin < 1:
        raise AblateError(
            f"verdict.margin: expected the smallest difference that matters, a number "
            f"between 0 and 1 (e.g. 0.03 UA), got {margin!r}"
        )
    return float(margin)


def check_seeds(settings: Settings, base: DictConfig, space: Space, seed_set: bool) -> None:
    """One seed rule: ``optuna.seeds`` when given, else each trial's ``train.seed``; a
    ``train.seed`` that says otherwise (set to another value, or swept) is an error."""
    if settings.seeds is None:
        return
    swept = any(dim.key == "train.seed" for dim in space.dims)
    if swept or (seed_set and settings.seeds != (base.train.seed,)):
        where = "space.train.seed" if swept else f"train.seed={base.train.seed}"
        raise AblateError(
            f"optuna.seeds {list(settings.seeds)} and {where} both set the seeds; keep one "
            "(without optuna.seeds, each trial trains once with its train.seed)"
        )


def seeds_identity(base: DictConfig, raw_space: Any, settings: Settings) -> Any:
    """The seeds in a study's identity: a study without ``optuna.seeds`` keeps the key it
    had when seeds defaulted to [0], unless its seed comes from a swept ``train.seed``."""
    if settings.seeds is not None:
        return list(settings.seeds)
    if isinstance(raw_space, Mapping) and "train.seed" in raw_space:
        return "train.seed"
    return [int(base.train.seed)]
