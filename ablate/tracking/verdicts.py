"""Verdicts that can say no: each paired comparison is better, worse, equivalent or
inconclusive, with the smallest difference the design could have detected.

* ``better`` / ``worse``: the difference's Holm-adjusted p (two-sided paired t-test) is at
  most ALPHA, over the family of the table.
* ``equivalent``: a margin is declared (the smallest difference that matters) and the
  two one-sided tests (TOST) that the difference is above ``-margin`` and below
  ``+margin`` both reject, with Holm's correction over the same family as the difference
  tests: each comparison's TOST p (the larger of its two one-sided p-values) is
  Holm-adjusted. Alone, that is the 90% interval inside ``+-margin``; in a family of m,
  false equivalence claims are held to ALPHA family-wise, as false differences are. A
  difference that is detectable but inside the margin is ``equivalent``: real, but
  smaller than what the study said matters (its p still shows it).
* ``inconclusive``: neither; the design cannot tell. Without a margin nothing can be
  shown equivalent, so a comparison that is not a difference is inconclusive.
* ``mde``: the difference this comparison would detect with 80% power, from its own
  standard error and degrees of freedom, at ALPHA / m: the level Holm's first step
  applies in a family of m tests (so it accounts for the correction; an effect that size
  is found 80% of the time when it is the largest in its family).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from scipy import special

from ablate.tracking.power import mde
from ablate.tracking.stats import ALPHA, NAN, Paired, holm, paired, pairwise
from ablate.tracking.tables import PValue, Range

BETTER, WORSE, EQUIVALENT, INCONCLUSIVE = "better", "worse", "equivalent", "inconclusive"
REFERENCE = "reference"
#: the study run's tag holding the margin its study file declares (``verdict.margin``)
MARGIN_TAG = "ablate.margin"
NOT_PAIRED = "not paired: no fold in common"
ONE_FOLD = "not tested: one shared fold"
CONSTANT = "not testable: the same difference on every fold"


@dataclass(frozen=True)
class Comparison:
    """One comparison's paired difference, its Holm-adjusted p-values (difference and
    equivalence), verdict, and the level its minimum detectable effect is computed at."""

    paired: Paired
    p_holm: float
    p_equivalent: float
    verdict: str
    level: float

    @cached_property
    def mde(self) -> float:
        """The difference found with 80% power at ``level`` (computed when first read)."""
        return mde(self.paired.se, self.paired.df, self.level)


def tost_p(compared: Paired, margin: float | None) -> float:
    """The p-value of two one-sided tests that ``|difference| < margin`` (NaN without a
    margin or a test)."""
    if margin is None or math.isnan(compared.p) or not compared.se > 0:
        return NAN
    above = special.stdtr(compared.df, -(compared.diff + margin) / compared.se)
    below = special.stdtr(compared.df, (compared.diff - margin) / compared.se)
    return float(max(above, below))


def _verdict(compared: Paired, p_holm: float, p_equivalent: float) -> str:
    if compared.n == 0:
        return NOT_PAIRED
    if compared.df < 1:
        return ONE_FOLD
    if compared.se == 0:
        return CONSTANT
    if p_equivalent <= ALPHA:
        return EQUIVALENT
    if p_holm <= ALPHA:
        return BETTER if compared.diff > 0 else WORSE
    return INCONCLUSIVE


def judge(
    family: Mapping[Hashable, Paired], margin: float | None
) -> tuple[dict[Hashable, Comparison], int]:
    """Every comparison of a family with its verdict (module docstring), and the number of
    comparisons tested (Holm's m)."""
    adjusted = holm({key: c.p for key, c in family.items()})
    equivalence = holm({key: tost_p(c, margin) for key, c in family.items()})
    tested = sum(not math.isnan(c.p) for c in family.values())
    level = ALPHA / max(1, tested)
    out = {
        key: Comparison(
            c, adjusted[key], equivalence[key], _verdict(c, adjusted[key], equivalence[key]), level
        )
        for key, c in family.items()
    }
    return out, tested


def against(
    samples: Mapping[Hashable, Mapping[Hashable, float]],
    reference: Hashable,
    post_hoc: bool,
    margin: float | None = None,
    clusters: Mapping[Hashable, Hashable] | None = None,
) -> tuple[dict[Hashable, Comparison], int]:
    """Each group against ``reference`` (``group - reference``) with its verdict, and the
    size of the Holm family.

    A reference named in advance is compared with the ``k - 1`` others and Holm runs over
    those. A reference picked after looking (the best group) is selected for being high,
    so the differences to it are biased; its comparisons are then judged as members of
    the family of all ``k (k - 1) / 2`` pairs, which holds the family-wise error rate
    (of false differences and of false equivalences) whichever group came out best.
    """
    ordered = {reference: samples[reference]} | {k: v for k, v in samples.items() if k != reference}
    family = (
        pairwise(ordered, clusters)
        if post_hoc
        else {(reference, k): paired(samples[reference], v, clusters) for k, v in ordered.items()}
    )
    family.pop((reference, reference), None)
    judged, tested = judge(family, margin)
    return {b: c for (a, b), c in judged.items() if a == reference}, tested


def mde_text(found: list[Comparison]) -> str:
    """``MDE 0.086-0.105`` over comparisons; one beyond the metric's scale is ``> 1``
    (nothing detectable)."""
    shown = sorted({min(c.mde, 1.0) for c in found if not math.isnan(c.mde)})
    if not shown:
        return "MDE not computable"
    low, high = (f"{v:.3f}" if v < 1 else "> 1" for v in (shown[0], shown[-1]))
    return f"MDE {low}" if low == high else f"MDE {low}-{high}"


def cells(
    compared: Comparison | None,
    margin: float | None,
    empty: str = "",
    counts: Callable[[Paired], dict[str, Any]] = lambda c: {},
) -> dict[str, Any]:
    """A comparison's table cells: difference and interval, ``counts`` (e.g. pairs), p,
    Holm p, ``p_equivalent`` (with a margin), verdict and mde; without a comparison every
    cell empty and the verdict ``empty``."""
    if compared is None:
        keys = ["diff", "diff_ci95", *counts(Paired(NAN, NAN, NAN, NAN, 0)), "p", "p_holm"]
        keys += ["p_equivalent"] if margin else []
        return dict.fromkeys(keys, None) | {"verdict": empty, "mde": None}
    c = compared.paired
    row: dict[str, Any] = {"diff": c.diff, "diff_ci95": Range(c.low, c.high), **counts(c)}
    row |= {"p": PValue(c.p), "p_holm": PValue(compared.p_holm)}
    if margin:
        row["p_equivalent"] = PValue(compared.p_equivalent)
    return row | {"verdict": compared.verdict, "mde": compared.mde}
