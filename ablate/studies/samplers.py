"""A study's Optuna sampler and pruner, from its ``optuna:`` settings."""

from __future__ import annotations

import optuna

from ablate.errors import AblateError
from ablate.studies.spec import Study

__all__ = ["pruner", "sampler"]


def sampler(study: Study) -> optuna.samplers.BaseSampler:
    settings = study.settings
    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(study.space.grid(), seed=settings.sampler_seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    return optuna.samplers.TPESampler(seed=settings.sampler_seed)


def pruner(study: Study) -> optuna.pruners.BasePruner:
    settings = study.settings
    classes = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    }
    try:
        return classes[settings.pruner](**settings.pruner_args)
    except (TypeError, ValueError) as exc:
        raise AblateError(f"optuna.pruner_args: {settings.pruner}: {exc}") from None
