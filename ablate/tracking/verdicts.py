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
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from scipy import special

from ablate.tracking.power import mde
from ablate.tracking.stats import ALPHA, NAN, Paired, holm, paired, pairwise

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
    equivalence), minimum detectable effect and verdict."""

    paired: Paired
    p_holm: float
    p_equivalent: float
    mde: float
    verdict: str

    @property
    def decided(self) -> bool:
        return self.verdict in (BETTER, WORSE, EQUIVALENT)


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
            c,
            adjusted[key],
            equivalence[key],
            mde(c.se, c.df, level),
            _verdict(c, adjusted[key], equivalence[key]),
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
