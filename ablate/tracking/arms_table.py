"""The arms table of ``ablate compare``: one row per arm and the caption that says what
its numbers are (markdown, CSV, the terminal's narrow view and the study run all use it)."""

from __future__ import annotations

import math
from typing import Any

from ablate.intervals import t_interval
from ablate.tracking.compare import Analysis, Verdict
from ablate.tracking.naming import LEAK
from ablate.tracking.stats import ALPHA
from ablate.tracking.tables import MeanSd, Range
from ablate.tracking.verdicts import REFERENCE, cells
from ablate.training.metrics import TEST_METRICS


def rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per arm, best first: the metric over units, the other metrics, the
    comparison with the reference arm, its verdict, and the arm's cost."""
    metric, name = analysis.metric, analysis.metric.removeprefix("test_")
    spread = "sd_speakers" if analysis.unit == "speaker" else "sd_folds"
    out = []
    for rank, verdict in enumerate(analysis.verdicts, 1):
        arm, interval = verdict.arm, verdict.interval
        low, high = verdict.seeds
        row: dict[str, Any] = {
            "rank": rank,
            "arm": arm.name,
            "speaker_independent": "yes" if arm.speaker_independent else f"NO ({LEAK})",
            metric: interval.mean,
            "ci95": Range(interval.low, interval.high),
            spread: interval.sd,
            "sd_seeds": verdict.seed_sd,
            "folds": verdict.folds,
        }
        if analysis.unit == "speaker":
            row["speakers"] = interval.n
        row["seeds"] = str(low) if low == high else f"{low}-{high}"
        for other in TEST_METRICS:
            if other != name:
                fold = list(arm.fold_means(other).values())
                summary = t_interval(fold)
                row[f"test_{other}"] = MeanSd(summary.mean, summary.sd) if fold else None
        row.update(_comparison(verdict, verdict is analysis.reference, analysis.margin))
        row.update(
            {
                "params": arm.params if math.isnan(arm.params) else int(arm.params),
                "gflops": arm.gflops,
                "train_seconds": arm.seconds,
            }
        )
        out.append(row)
    return out


def _comparison(verdict: Verdict, is_reference: bool, margin: float | None) -> dict[str, Any]:
    compared = None if is_reference else verdict.comparison
    empty = REFERENCE if is_reference else ""
    return cells(compared, margin, empty, lambda c: {"pairs": c.n})


def _units(analysis: Analysis) -> str:
    counts = sorted({v.interval.n for v in analysis.verdicts})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    leaky = [not v.arm.speaker_independent for v in analysis.verdicts]
    kind = (
        "random folds whose speakers were also trained on: speaker-dependent"
        if all(leaky)
        else "held-out speakers; random folds for the speaker-dependent arms"
        if any(leaky)
        else "held-out test speakers"
    )
    if analysis.unit == "speaker":
        folds = sorted({v.folds for v in analysis.verdicts})
        return (
            f"mean over {n} test speakers in {folds[-1]} folds ({kind}), each speaker's "
            "seeds averaged first; the speakers of a fold share its trained models, so "
            "every interval and test is cluster-robust over folds (folds - 1 degrees of "
            "freedom); ci95 = 95% interval"
        )
    return (
        f"mean over {n} test folds ({kind}), each fold's seeds averaged first; ci95 = 95% "
        "t-interval over the fold means"
    )


def caption(analysis: Analysis) -> str:
    """What the table's numbers are, which test, which reference, which correction and
    what each verdict means."""
    metric, ref = analysis.metric, analysis.reference.arm.name
    unit = "speaker" if analysis.unit == "speaker" else "fold"
    if len(analysis.verdicts) == 1:
        return f"{metric}: {_units(analysis)}; one arm, nothing to compare it with."
    chosen = (
        f"the best arm, {ref}, picked after looking, so Holm runs over all "
        f"{analysis.family} pairs of arms"
        if analysis.post_hoc
        else f"{ref} (named with --reference); Holm runs over the {analysis.family} comparisons"
    )
    margin = analysis.margin
    equivalence = (
        f"equivalent = within ±{margin:g}: both one-sided tests against ±{margin:g} reject "
        f"after Holm over the same family (p_equivalent; for one comparison, its 90% "
        f"interval inside ±{margin:g})"
        if margin
        else "equivalent: not tested, no margin declared (verdict: {margin: M} in the "
        "study file, or --margin M)"
    )
    return (
        f"{metric}: {_units(analysis)}, on the logit scale so that it stays inside [0, 1]; "
        f"sd_{unit}s = their standard deviation; sd_seeds = spread between seeds on the "
        f"same {unit}. diff = arm - reference over the {unit}s both have (pairs), with its "
        f"95% t-interval; p = two-sided paired t-test. Reference: {chosen}. verdict: "
        f"better / worse = Holm-adjusted p <= {ALPHA}; {equivalence}; inconclusive = "
        f"neither: this table cannot tell. mde = the difference found with 80% power at "
        f"Holm's first-step level {ALPHA}/{analysis.family}. Ranked by the mean over the "
        "folds every arm has."
    )
