"""A study's Optuna sampler and pruner, from its ``optuna:`` settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from ablate.errors import AblateError
from ablate.studies.space import POINT
from ablate.studies.spec import Study

__all__ = ["GridSampler", "PerTrialSeed", "pruner", "sampler"]


class PerTrialSeed(BaseSampler):
    """The study's sampler, made afresh for every trial with a seed drawn from
    ``(sampler_seed, trial number)``.

    Every process working a study (``--workers``, other machines) builds the same sampler
    from the same ``sampler_seed``: one seeded sampler per process would propose the same
    parameters in each (TPE's random start-up trials were run twice). Trial numbers are
    unique across the storage, so the proposals differ, and one process still proposes
    the same sequence for the same seed. The history the samplers learn from is the
    study's, in the storage, so nothing is lost by making them anew."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int):
        self._make, self._seed = make, seed
        self._sampler = make(seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        entropy = np.random.SeedSequence([self._seed, trial.number])
        self._sampler = self._make(int(entropy.generate_state(1)[0]))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: list[float] | None,
    ) -> None:
        self._sampler.after_trial(study, trial, state, values)


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its stop: ablate asks for and tells one trial at a
    time, and the budget decides when a study ends (``GridSampler.after_trial`` calls
    ``Study.stop``, which raises outside ``Study.optimize``)."""

    def after_trial(self, *args: Any) -> None:
        """Nothing: the study's budget, not the grid, ends the run."""


def sampler(study: Study) -> BaseSampler:
    """The ``optuna.sampler`` of ``study``. Random and TPE are seeded per trial
    (:class:`PerTrialSeed`), and TPE treats running trials as scored at their worst
    (constant liar), so parallel workers spread out beyond the start-up trials too. The
    grid needs neither: its seed shuffles the grid once, the same in every process, and
    trial ``n`` takes point ``n``. A grid whose product repeats points (a swept parameter
    that some swept plugins lack) runs over its distinct points (:attr:`Space.points`)."""
    settings = study.settings
    if settings.sampler == "grid":
        space = study.space
        grid = {POINT: list(range(len(space.points)))} if space.points else space.grid()
        return GridSampler(grid, seed=settings.sampler_seed)
    if settings.sampler == "random":
        return PerTrialSeed(optuna.samplers.RandomSampler, settings.sampler_seed)
    return PerTrialSeed(
        lambda seed: optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        settings.sampler_seed,
    )


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
