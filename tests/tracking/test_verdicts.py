"""Verdicts: two one-sided tests, Holm over the family for both kinds of claim, the
minimum detectable effect at Holm's first-step level, and the states no test can judge."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ablate.tracking.power import mde
from ablate.tracking.stats import paired
from ablate.tracking.verdicts import (
    BETTER,
    CONSTANT,
    EQUIVALENT,
    INCONCLUSIVE,
    NOT_PAIRED,
    ONE_FOLD,
    WORSE,
    against,
    judge,
    tost_p,
)


def shifted(delta: float, noise: list[float]) -> tuple[dict, dict]:
    reference = {f"s{i}": 0.5 + 0.05 * i for i in range(len(noise))}
    return reference, {k: v + delta + e for (k, v), e in zip(reference.items(), noise, strict=True)}


NOISE = [0.01, -0.012, 0.004, -0.006, 0.009, -0.003, 0.0, -0.002]


def test_alone_tost_says_equivalent_exactly_when_the_90_percent_interval_is_inside_the_margin():
    rng = np.random.default_rng(0)
    for _ in range(300):
        reference, other = shifted(rng.normal(0, 0.02), list(rng.normal(0, 0.02, 8)))
        c = paired(reference, other)
        low, high = stats.t.interval(0.90, c.df, c.diff, c.se)
        found = judge({"x": c}, 0.03)[0]["x"]
        assert (found.verdict == EQUIVALENT) == (low > -0.03 and high < 0.03)
        assert tost_p(c, 0.03) == pytest.approx(
            max(stats.t.sf((c.diff + 0.03) / c.se, c.df), stats.t.cdf((c.diff - 0.03) / c.se, c.df))
        )


def test_the_four_verdicts():
    better = paired(*shifted(0.2, NOISE))
    worse = paired(*shifted(-0.2, NOISE))
    tiny = paired(*shifted(0.001, NOISE))
    unclear = paired(*shifted(0.02, [0.1, -0.12, 0.04, -0.06, 0.09, -0.03, 0.0, -0.02]))
    family = {"better": better, "worse": worse, "tiny": tiny, "unclear": unclear}
    judged, tested = judge(family, margin=0.03)
    assert tested == 4
    assert {k: c.verdict for k, c in judged.items()} == {
        "better": BETTER,
        "worse": WORSE,
        "tiny": EQUIVALENT,
        "unclear": INCONCLUSIVE,
    }
    without = judge(family, margin=None)[0]
    assert without["tiny"].verdict == INCONCLUSIVE and math.isnan(without["tiny"].p_equivalent)


def test_a_detectable_difference_inside_the_margin_is_equivalent():
    """Real but smaller than what matters: the verdict says equivalent, the p says real."""
    small = paired(*shifted(0.01, [e / 10 for e in NOISE]))
    (found,) = judge({"x": small}, margin=0.03)[0].values()
    assert found.p_holm < 0.05 and found.verdict == EQUIVALENT


def test_holm_runs_over_the_equivalence_tests_too():
    """A TOST p of 0.03 alone is equivalent; as one of three with larger p's it is not."""
    c = paired(*shifted(0.0, [0.01, -0.012, 0.004, -0.006, 0.009, -0.003, 0.0, -0.002]))
    margin = next(m for m in np.arange(0.005, 0.05, 1e-4) if tost_p(c, m) <= 0.03)
    alone = judge({"a": c}, margin)[0]["a"]
    assert alone.verdict == EQUIVALENT
    weak = paired(*shifted(0.0, [0.05, -0.06, 0.02, -0.03, 0.045, -0.015, 0.0, -0.01]))
    three = judge({"a": c, "b": weak, "c": weak}, margin)[0]["a"]
    assert tost_p(weak, margin) > tost_p(c, margin)
    assert three.p_equivalent == pytest.approx(3 * tost_p(c, margin))
    assert three.verdict != EQUIVALENT


def test_mde_is_at_holms_first_step_level_of_the_family():
    c = paired(*shifted(0.0, NOISE))
    judged, tested = judge({"a": c, "b": c, "c": c}, None)
    assert tested == 3
    assert judged["a"].mde == pytest.approx(mde(c.se, c.df, 0.05 / 3))
    assert judged["a"].mde > judge({"a": c}, None)[0]["a"].mde


def test_what_no_test_can_judge_is_said_and_left_out_of_the_family():
    none = paired({"a": 0.5}, {"b": 0.4})
    one = paired({"a": 0.5}, {"a": 0.4})
    constant = paired({"a": 0.5, "b": 0.6}, {"a": 0.4, "b": 0.5})
    ok = paired(*shifted(0.2, NOISE))
    judged, tested = judge({"none": none, "one": one, "constant": constant, "ok": ok}, 0.03)
    assert tested == 1 and judged["ok"].p_holm == pytest.approx(ok.p)
    assert [judged[k].verdict for k in ("none", "one", "constant")] == [
        NOT_PAIRED,
        ONE_FOLD,
        CONSTANT,
    ]
    assert math.isnan(judged["constant"].mde)


def test_against_the_best_judges_equivalence_over_all_pairs_as_well():
    rng = np.random.default_rng(3)
    base = rng.normal(0.6, 0.1, 8)
    samples = {n: dict(enumerate(base + rng.normal(0, 0.01, 8))) for n in "abcd"}
    named, m = against(samples, "a", post_hoc=False, margin=0.05)
    every, m_all = against(samples, "a", post_hoc=True, margin=0.05)
    assert (m, m_all) == (3, 6)
    for k in named:
        assert every[k].p_equivalent >= named[k].p_equivalent
        assert every[k].mde > named[k].mde
