"""Verdicts on the arms of one or more studies: intervals over test folds, paired
comparisons against a reference arm and Holm-corrected significance.

Per arm: the mean over its test folds (seeds averaged within each fold first), the 95%
t-interval over those fold means, their standard deviation and, separately, the spread
between seeds on one fold. Each other arm is compared with the reference arm (named with
``--reference``, else the best arm) by a paired t-test over the fold means both have; the
difference and its 95% interval use the same folds, so they always agree with the p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError
from ablate.intervals import Interval, t_interval
from ablate.tracking.arms import Arm, load_arms
from ablate.tracking.mlflow_store import LEAK, Store
from ablate.tracking.stats import ALPHA, Paired, against, seed_sd
from ablate.tracking.tables import MeanSd, PValue, Range
from ablate.training.metrics import TEST_METRICS


@dataclass
class Verdict:
    """One arm's row: its interval over folds and its comparison with the reference."""

    arm: Arm
    interval: Interval
    seed_sd: float
    seeds: tuple[int, int]
    comparison: Paired | None = None
    p_holm: float = math.nan

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_holm) and self.p_holm <= ALPHA


@dataclass
class Analysis:
    """The ranked verdicts of a table and what its caption must say."""

    metric: str
    verdicts: list[Verdict]
    reference: Verdict
    post_hoc: bool
    family: int
    parents: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def analyse(
    store: Store,
    targets: list[str],
    metric: str = "test_uar",
    reference: str | None = None,
    pool_seeds: bool = False,
) -> Analysis:
    """Read the arms of ``targets`` and compare them (see the module docstring);
    ``pool_seeds`` joins studies that differ in their seeds alone."""
    parents, arms, notes = load_arms(store, targets, pool_seeds)
    name = metric.removeprefix("test_")
    arms = [arm for arm in arms if arm.values.get(name)]
    if not arms:
        raise AblateError(f"study '{', '.join(targets)}': no finished trial logged '{metric}'")
    _check_classes(arms, notes)
    verdicts = [_verdict(arm, name) for arm in arms]
    verdicts.sort(key=lambda v: -v.interval.mean)
    chosen = verdicts[0] if reference is None else _reference(verdicts, reference)
    samples = {id(v): v.arm.fold_means(name) for v in verdicts}
    rows, adjusted, family = against(samples, id(chosen), post_hoc=reference is None)
    for verdict in verdicts:
        if verdict is not chosen:
            verdict.comparison, verdict.p_holm = rows[id(verdict)], adjusted[id(verdict)]
    return Analysis(metric, verdicts, chosen, reference is None, family, parents, notes)


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


def _verdict(arm: Arm, metric: str) -> Verdict:
    values = arm.values[metric]
    per_fold: dict[str, int] = {}
    for _, fold in values:
        per_fold[fold] = per_fold.get(fold, 0) + 1
    counts = sorted(per_fold.values())
    interval = t_interval(list(arm.fold_means(metric).values()))
    return Verdict(arm, interval, seed_sd(values), (counts[0], counts[-1]))


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


def rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per arm, best first: the metric over folds, the other metrics, the
    comparison with the reference arm and the arm's cost."""
    metric, name = analysis.metric, analysis.metric.removeprefix("test_")
    out = []
    for rank, verdict in enumerate(analysis.verdicts, 1):
        arm, interval, compared = verdict.arm, verdict.interval, verdict.comparison
        low, high = verdict.seeds
        row: dict[str, Any] = {
            "rank": rank,
            "arm": arm.name,
            "speaker_independent": "yes" if arm.speaker_independent else f"NO ({LEAK})",
            metric: interval.mean,
            "ci95": Range(interval.low, interval.high),
            "sd_folds": interval.sd,
            "sd_seeds": verdict.seed_sd,
            "folds": interval.n,
            "seeds": str(low) if low == high else f"{low}-{high}",
        }
        for other in TEST_METRICS:
            if other != name:
                fold = list(arm.fold_means(other).values())
                summary = t_interval(fold)
                row[f"test_{other}"] = MeanSd(summary.mean, summary.sd) if fold else None
        row.update(_comparison(verdict, verdict is analysis.reference, compared))
        row.update(
            {
                "params": arm.params if math.isnan(arm.params) else int(arm.params),
                "gflops": arm.gflops,
                "train_seconds": arm.seconds,
            }
        )
        out.append(row)
    return out


def _comparison(verdict: Verdict, is_reference: bool, compared: Paired | None) -> dict[str, Any]:
    if is_reference or compared is None:
        significant = "reference" if is_reference else ""
        return dict.fromkeys(("diff", "diff_ci95", "pairs", "p", "p_holm"), None) | {
            "significant": significant
        }
    if compared.n == 0:
        significant = "not paired: no fold in common"
    elif math.isnan(compared.p):
        significant = "not tested: one shared fold"
    else:
        significant = "yes" if verdict.significant else "no"
    return {
        "diff": compared.diff,
        "diff_ci95": Range(compared.low, compared.high),
        "pairs": compared.n,
        "p": PValue(compared.p),
        "p_holm": PValue(verdict.p_holm),
        "significant": significant,
    }


def caption(analysis: Analysis) -> str:
    """What the table's numbers are, which test, which reference and which correction."""
    metric = analysis.metric
    folds = sorted({v.interval.n for v in analysis.verdicts})
    n = str(folds[0]) if len(folds) == 1 else f"{folds[0]}-{folds[-1]}"
    ref = analysis.reference.arm.name
    if len(analysis.verdicts) == 1:
        return f"{metric}: mean over {n} test folds; one arm, nothing to compare it with."
    chosen = (
        f"the best arm, {ref}, picked after looking, so Holm runs over all "
        f"{analysis.family} pairs of arms"
        if analysis.post_hoc
        else f"{ref} (named with --reference); Holm runs over the {analysis.family} comparisons"
    )
    leaky = [not v.arm.speaker_independent for v in analysis.verdicts]
    kind = (
        "random folds whose speakers were also trained on: speaker-dependent"
        if all(leaky)
        else "held-out speakers; random folds for the speaker-dependent arms"
        if any(leaky)
        else "held-out test speakers"
    )
    return (
        f"{metric}: mean over {n} test folds ({kind}), each fold's seeds "
        f"averaged first; ci95 = 95% t-interval over the fold means; sd_folds = their "
        f"standard deviation; sd_seeds = spread between seeds on the same fold. diff = arm - "
        f"reference over the folds both have (pairs), with its 95% t-interval; p = two-sided "
        f"paired t-test over those fold means. Reference: {chosen}; significant = "
        f"Holm-adjusted p <= {ALPHA}."
    )
