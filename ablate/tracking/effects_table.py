"""The effects table of ``ablate compare --effects``: a row per level of each factor and
per interaction contrast, the F-test lines under it and the caption that says what its
numbers are (:mod:`.effects` computes them)."""

from __future__ import annotations

from typing import Any

from ablate.tracking.anova import FTest
from ablate.tracking.effects import Effects, short
from ablate.tracking.naming import LEAK
from ablate.tracking.stats import ALPHA
from ablate.tracking.tables import PValue, Range
from ablate.tracking.verdicts import BETTER, EQUIVALENT, WORSE, Comparison, cells, mde_text


def rows(result: Effects) -> list[dict[str, Any]]:
    """One row per level of each factor (the factor's best level first), then one per
    interaction contrast."""
    metric = result.metric
    mark = "yes" if result.speaker_independent else f"NO ({LEAK})"
    out = []
    for level in result.levels:
        row: dict[str, Any] = {
            "factor": short(level.factor),
            "level": level.level,
            "speaker_independent": mark,
            metric: level.interval.mean,
            "ci95": Range(level.interval.low, level.interval.high),
            "folds": level.interval.n,
        }
        out.append(row | cells(level.comparison, result.margin, "best level"))
    for c in result.contrasts:
        row = {
            "factor": f"{short(c.first)} x {short(c.second)}",
            "level": f"({c.level} - {c.best}) at {c.at} - at {c.at_best}",
            "speaker_independent": mark,
            metric: None,
            "ci95": None,
            "folds": c.comparison.paired.n,
        }
        out.append(row | cells(c.comparison, result.margin))
    return out


def f_text(test: FTest) -> str:
    """``F(df1, df2) = f, Greenhouse-Geisser ε = e, p = p``."""
    p = PValue(test.p)
    shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    gg = f"Greenhouse-Geisser ε = {test.epsilon:.2f}"
    return f"F({test.df1}, {test.df2}) = {test.f:.2f}, {gg}, {shown}"


def summary(result: Effects) -> list[str]:
    """The main-effect and interaction lines under the effects table: each F-test, and
    what its effect sizes' verdicts say."""
    lines = []
    for key, test in result.main.items():
        pairs = [lv.comparison for lv in result.levels if lv.factor == key and lv.comparison]
        lines.append(f"main effect of {short(key)}: {f_text(test)}; {_said(pairs, 'levels')}")
    for a, b, test, p_holm in result.interactions:
        verdict = "depends" if p_holm <= ALPHA else "does not measurably depend"
        corrected = f" (Holm over {len(result.interactions)}: {PValue(p_holm):.3f})"
        holm_note = corrected if len(result.interactions) > 1 else ""
        found = [c.comparison for c in result.contrasts if (c.first, c.second) == (a, b)]
        lines.append(
            f"interaction {short(a)} x {short(b)}: {f_text(test)}{holm_note}: the effect of "
            f"{short(a)} {verdict} on {short(b)}; {_said(found, 'contrasts')}"
        )
    return lines


def _said(found: list[Comparison], what: str) -> str:
    """What a factor's (or interaction's) comparisons show, in words."""
    differ = sum(c.verdict in (BETTER, WORSE) for c in found)
    same = sum(c.verdict == EQUIVALENT for c in found)
    if found and same == len(found):
        return f"every one of its {what} equivalent within the margin"
    if differ:
        verb = "differs" if differ == 1 else "differ"
        return f"{differ} of its {len(found)} {what} {verb} detectably"
    tail = f", {same} equivalent" if same else ""
    return f"none of its {len(found)} {what} differs detectably ({mde_text(found)}{tail})"


def caption(result: Effects) -> str:
    margin = result.margin
    equivalent = (
        f"equivalent = within ±{margin:g} by two one-sided tests, Holm over the same family"
        if margin
        else "equivalent: not tested, no margin declared"
    )
    return (
        f"{result.study}, {result.metric}: each level's mean over the other factors' levels, "
        f"computed per test fold, over {result.folds} folds, with its 95% interval (inside "
        f"[0, 1]); diff = level - the factor's best level, or for an interaction contrast "
        f"(a level's gap to its factor's best level at another level of the second factor) "
        f"- (the same gap at the second factor's best level), paired over the folds, with "
        f"its 95% t-interval; p = two-sided paired t-test. The best levels are picked after "
        f"looking, so every pair of levels of every factor and every interaction contrast "
        f"form one Holm family of {result.family}; verdict: better / worse = Holm-adjusted p "
        f"<= {ALPHA}; {equivalent}; inconclusive = neither; mde = the difference found with "
        f"80% power at {ALPHA}/{result.family}. Main effects and interactions: "
        f"repeated-measures ANOVA over folds."
    )
