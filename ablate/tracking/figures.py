"""The figures ``ablate compare --plot`` draws: arms and effects with 95% intervals."""

from __future__ import annotations

from pathlib import Path

from ablate.tracking.arms import UNIT_SEP
from ablate.tracking.compare import Analysis, Verdict, label
from ablate.tracking.effects import Effects, cell_means, short
from ablate.tracking.effects_table import f_text
from ablate.tracking.plots import Bar, arms_png, effects_png, paired_png


def chance(analysis: Analysis) -> float | None:
    """1 / the number of classes, when every arm has the same classes."""
    classes = {v.arm.classes for v in analysis.verdicts if v.arm.classes}
    return 1 / classes.pop() if len(classes) == 1 else None


def _xlabel(metric: str, folds: set[int], unit: str = "fold") -> str:
    n = "-".join(str(f) for f in sorted({min(folds), max(folds)}))
    return f"{metric}: mean over {n} test {unit}s; whiskers: 95% interval (inside [0, 1])"


def verdict_mark(verdict: Verdict, reference: Verdict) -> str:
    """What the figure writes beside an arm's mean: its verdict against the reference
    (``worse``, ``inconclusive``, ...; nothing for the reference itself)."""
    if verdict is reference or verdict.comparison is None:
        return ""
    return verdict.comparison.verdict.split(":")[0]


def arms_figure(analysis: Analysis, path: Path) -> Path:
    """Every arm, best first, the reference coloured and named, leaks marked, each mean
    with its verdict against the reference; the chance line where the classes agree."""
    bars = []
    for v in analysis.verdicts:
        ref = v is analysis.reference
        name = label(v.arm) + (" (reference)" if ref else "")
        leak = not v.arm.speaker_independent
        i = v.interval
        mark = verdict_mark(v, analysis.reference)
        bars.append(Bar(name, i.mean, i.low, i.high, ref, leak, mark))
    how = "the best arm" if analysis.post_hoc else "named"
    title = f"{analysis.metric} per arm; reference ({how}): {analysis.reference.arm.name}"
    xlabel = _xlabel(analysis.metric, {v.interval.n for v in analysis.verdicts}, analysis.unit)
    return arms_png(bars, chance(analysis), xlabel, title, path)


def paired_figure(analysis: Analysis, path: Path) -> Path:
    """Each test speaker (or fold's speakers) as one line across the arms, best arm first:
    whether a difference is every speaker's or a few speakers'."""
    by_speaker = analysis.unit == "speaker"
    name = analysis.metric.removeprefix("test_")
    arms = [label(v.arm) for v in analysis.verdicts]
    units: dict[str, dict[str, float]] = {}
    for v in analysis.verdicts:
        for unit, value in v.arm.units(name, by_speaker).items():
            shown = unit.split(UNIT_SEP, 1)[1] if by_speaker else v.arm.folds.get(unit, unit)
            units.setdefault(shown, {})[label(v.arm)] = value
    title = f"{analysis.metric} per test {analysis.unit} (seeds averaged), one line each"
    return paired_png(arms, units, chance(analysis), title, path)


def effects_figure(result: Effects, chance_level: float | None, path: Path) -> Path:
    """Per factor its levels with 95% intervals (best level coloured), then the cell means
    of the first two factors."""
    panels = []
    for key, test in result.main.items():
        bars = []
        for lv in (lv for lv in result.levels if lv.factor == key):
            best = lv.comparison is None
            name = lv.level + (" (best level)" if best else "")
            i = lv.interval
            bars.append(Bar(name, i.mean, i.low, i.high, best, not result.speaker_independent))
        title = f"{short(key)} (mean over the other factors): main effect {f_text(test)}"
        panels.append((title, bars))
    first, second = list(result.factors)[:2]
    lines = cell_means(result, first, second)
    test = next(t for a, b, t, _ in result.interactions if (a, b) == (first, second))
    title = f"cell means: interaction {short(first)} x {short(second)} {f_text(test)}"
    interaction = (short(first), short(second), result.factors[first], lines, title)
    xlabel = _xlabel(result.metric, {result.folds})
    return effects_png(panels, interaction, chance_level, xlabel, path)
