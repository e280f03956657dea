"""Verdicts on the arms of one or more studies: intervals over test units, paired
comparisons against a reference arm, and a verdict for each (better, worse, equivalent,
inconclusive; :mod:`.verdicts`).

Per arm: the mean over its test units (folds, or the test speakers of folds that hold
several, when their scores are recorded), seeds averaged within each unit first; its 95%
interval, kept inside [0, 1]; the spread between units and, separately, between seeds on
one unit. Arms are ranked, and the best one picked, by their means over the folds every
arm has, so an arm that lacks a hard fold does not rank first for it (a note names it).
Each other arm is compared with the reference arm (named with ``--reference``, else the
best) by a paired t-test over the units both have; difference, interval, p, verdict and
minimum detectable effect come from the same units.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.intervals import Interval, score_interval
from ablate.tracking.arms import UNIT_SEP, Arm, cluster, load_arms
from ablate.tracking.mlflow_store import Store
from ablate.tracking.naming import LEAK
from ablate.tracking.stats import seed_sd
from ablate.tracking.tables import cell
from ablate.tracking.verdicts import BETTER, MARGIN_TAG, WORSE, Comparison, against, mde_text


@dataclass
class Verdict:
    """One arm's row: its interval over units and its comparison with the reference."""

    arm: Arm
    interval: Interval
    seed_sd: float
    seeds: tuple[int, int]
    folds: int
    #: the mean over the folds every arm has: what the arms are ranked by
    rank_mean: float
    comparison: Comparison | None = None


@dataclass
class Analysis:
    """The ranked verdicts of a table and what its caption must say."""

    metric: str
    verdicts: list[Verdict]
    reference: Verdict
    post_hoc: bool
    family: int
    margin: float | None = None
    #: "fold", or "speaker" when speakers of multi-speaker folds are the units
    unit: str = "fold"
    #: the top arm against every other, judged over all pairs: whether one is best
    top: dict[int, Comparison] = field(default_factory=dict)
    parents: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def declared_margin(parents: list[Any]) -> float | None:
    """The margin the shown studies declare (``verdict: {margin: M}``); studies that
    declare none are left out, and two different margins are an error."""
    declared = {p.data.tags[MARGIN_TAG] for p in parents if p.data.tags.get(MARGIN_TAG)}
    if len(declared) > 1:
        raise AblateError(
            f"the studies declare different margins ({', '.join(sorted(declared))}); "
            "pass --margin M to choose one"
        )
    return float(declared.pop()) if declared else None


def analyse(
    store: Store,
    targets: list[str],
    metric: str = "test_uar",
    reference: str | None = None,
    pool_seeds: bool = False,
    margin: float | None = None,
) -> Analysis:
    """Read the arms of ``targets`` and compare them (see the module docstring);
    ``pool_seeds`` joins studies that differ in their seeds alone; ``margin`` overrides
    the margin the studies declare."""
    parents, arms, notes = load_arms(store, targets, pool_seeds)
    if not any(arm.values.get(metric.removeprefix("test_")) for arm in arms):
        raise AblateError(f"study '{', '.join(targets)}': no finished trial logged '{metric}'")
    chosen = margin if margin is not None else declared_margin(parents)
    analysis = analyse_arms(arms, metric, reference, chosen, notes)
    analysis.parents = parents
    return analysis


def analyse_arms(
    arms: list[Arm],
    metric: str = "test_uar",
    reference: str | None = None,
    margin: float | None = None,
    notes: list[str] | None = None,
) -> Analysis:
    """The verdicts on ``arms`` (module docstring); no store is read."""
    name = metric.removeprefix("test_")
    arms = [arm for arm in arms if arm.values.get(name)]
    if not arms:
        raise AblateError(f"no finished trial logged '{metric}'")
    notes = list(notes or [])
    _check_classes(arms, notes)
    by_speaker = all(a.has_speakers(name) for a in arms) and any(
        len({(f, s) for _, f, s in a.speakers[name]}) > len({f for _, f, _ in a.speakers[name]})
        for a in arms
    )  # every score has its speakers', and some fold holds several
    units = {id(a): a.units(name, by_speaker) for a in arms}
    clusters = {u: cluster(u) for values in units.values() for u in values}
    shared = set.intersection(*(set(a.fold_means(name)) for a in arms))
    notes += _missing(arms, name, shared)
    verdicts = [_verdict(a, name, units[id(a)], shared) for a in arms]
    verdicts.sort(key=lambda v: -v.rank_mean)
    chosen = verdicts[0] if reference is None else _reference(verdicts, reference)
    samples = {id(v.arm): units[id(v.arm)] for v in verdicts}
    rows, family = against(samples, id(chosen.arm), reference is None, margin, clusters)
    for verdict in verdicts:
        verdict.comparison = rows.get(id(verdict.arm))
    # a reference named beforehand that tops the table is judged by the table's own rows
    top = (
        rows
        if reference is None or chosen is verdicts[0]
        else against(samples, id(verdicts[0].arm), True, margin, clusters)[0]
    )
    unit = "speaker" if by_speaker else "fold"
    return Analysis(
        metric, verdicts, chosen, reference is None, family, margin, unit, top, [], notes
    )


def _check_classes(arms: list[Arm], notes: list[str]) -> None:
    """Arms scored on different classes (two corpora, a 6-class and a 4-class setting)
    cannot share a ranking: UA and its chance level (1 / classes) differ. Studies that
    differ so are refused; a study that sweeps its classes itself gets a note."""
    studies: dict[tuple[str, ...], set[str]] = {}
    for arm in arms:
        if arm.labels:
            studies.setdefault(arm.labels, set()).add(arm.study)
    if len(studies) < 2:
        return
    described = "; ".join(
        f"{len(labels)} classes ({', '.join(labels)}) in {', '.join(sorted(keys))}"
        for labels, keys in studies.items()
    )
    every = [key for keys in studies.values() for key in keys]
    if len(every) == len(set(every)):  # each study on one class set
        raise AblateError(
            f"the studies were scored on different classes ({described}); UA and its "
            "chance level differ between them: compare each on its own"
        )
    notes.append(
        f"the arms were scored on different classes ({described}); UA and its chance "
        "level differ between them: read ranks and differences within one class set only"
    )


def _verdict(arm: Arm, metric: str, units: dict[str, float], shared: set[str]) -> Verdict:
    per_fold: dict[str, int] = {}
    for _, fold in arm.values[metric]:
        per_fold[fold] = per_fold.get(fold, 0) + 1
    counts = sorted(per_fold.values())
    keys = list(units)
    interval = score_interval([units[u] for u in keys], [cluster(u) for u in keys])
    ranked = [units[u] for u in keys if cluster(u) in shared]
    rank_mean = statistics.fmean(ranked) if ranked else interval.mean
    values = arm.values[metric]
    if len(units) != len(per_fold):  # speakers are the units: their seeds' spread
        values = {(seed, f + UNIT_SEP + s): v for (seed, f, s), v in arm.speakers[metric].items()}
    spread = seed_sd(values)
    return Verdict(arm, interval, spread, (counts[0], counts[-1]), len(per_fold), rank_mean)


def _missing(arms: list[Arm], metric: str, shared: set[str]) -> list[str]:
    """A note per arm that lacks folds the arms it is paired with have."""
    folds = {id(a): set(a.fold_means(metric)) for a in arms}
    notes = []
    for arm in arms:
        mine = folds[id(arm)]
        seen = set().union(*(f for f in folds.values() if f & mine))
        lacking = sorted(seen - mine)
        if lacking:
            names = ", ".join(_label(arms, f) for f in lacking)
            how = (
                f"the ranking and the best arm use the {len(shared)} folds every arm has"
                if shared
                else "no fold is common to every arm, so arms are ranked by their own means"
            )
            notes.append(
                f"{label(arm)} lacks {len(lacking)} of the {len(seen)} test folds its "
                f"comparisons could use ({names}): {how}; its own row is over its "
                f"{len(mine)}"
            )
    return notes


def _label(arms: list[Arm], fold: str) -> str:
    return next((a.folds[fold] for a in arms if fold in a.folds), fold)


def _reference(verdicts: list[Verdict], wanted: str) -> Verdict:
    """The arm named ``wanted``: its full name, or the only arm whose name contains it."""
    names = [v.arm.name for v in verdicts]
    exact = [v for v in verdicts if v.arm.name == wanted]
    found = exact or [v for v in verdicts if wanted in v.arm.name]
    if len(found) == 1:
        return found[0]
    which = "matches several arms" if found else "matches no arm"
    shown = [v.arm.name for v in found] if found else names
    raise AblateError(f"--reference '{wanted}' {which}; arms: {'; '.join(shown)}")


def label(arm: Arm) -> str:
    """The arm's name, marked when its test speakers were seen in training."""
    return f"{arm.name} ({LEAK})" if not arm.speaker_independent else arm.name


def detectably_best(analysis: Analysis) -> Verdict | None:
    """The top arm, when it is detectably better than every other arm: its comparisons
    with each, judged over all pairs of arms (the top arm is picked after looking), or
    against the reference the table names when that arm tops it, all say ``worse`` for
    the other arm."""
    top = analysis.verdicts[0]
    found = [c.verdict for c in analysis.top.values()]
    return top if found and all(v == WORSE for v in found) else None


def headline(analysis: Analysis) -> str:
    """One line: the detectably best arm, or that there is none, with the top estimate
    and the smallest differences the table could detect (its comparisons with the top
    arm: "no arm differs detectably" when none of them is decided)."""
    top = analysis.verdicts[0]
    if len(analysis.verdicts) == 1:
        return f"one arm, {label(top.arm)}: {analysis.metric} {_estimate(top.interval)}"
    if detectably_best(analysis) is not None:
        return (
            f"best arm {label(top.arm)}: {analysis.metric} {_estimate(top.interval)}, "
            "detectably above every other arm"
        )
    compared = list(analysis.top.values())
    decided = any(c.verdict in (BETTER, WORSE) for c in compared)
    what = "is detectably best" if decided else "differs detectably"
    return (
        f"no arm {what} ({mde_text(compared)}); top estimate "
        f"{label(top.arm)}: {analysis.metric} {_estimate(top.interval)}"
    )


def _estimate(interval: Interval) -> str:
    units = f"{interval.n} test unit{'s' if interval.n != 1 else ''}"
    if interval.n < 2 or math.isnan(interval.low):
        return f"{cell(interval.mean)} ({units}: no interval)"
    return f"{cell(interval.mean)} (95% CI {cell(interval.low)} to {cell(interval.high)})"
