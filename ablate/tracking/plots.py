"""PNG figures for tracked runs: confusion matrix, learning curves, arms and effects."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ARM, REFERENCE, LEAKED = "tab:blue", "tab:orange", "tab:gray"


def shares_per_true_class(confusion: Sequence[Sequence[int]]) -> np.ndarray:
    """Each row divided by its total (a class never tested stays 0): the diagonal holds each
    class's recall, whose mean is UA."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def cell_text(share: float, count: float) -> str:
    """A confusion cell: its share of the true class over its count."""
    return f"{share:.2f}\n{int(count)}"


def confusion_png(
    confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str = ""
) -> Path:
    """True classes as rows, predictions as columns; each cell coloured and labelled by its
    share of its true class (so the diagonal is each class's recall, whose mean is UA),
    with the count below it."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = shares_per_true_class(confusion)
    size = len(labels)
    fig, ax = plt.subplots(figsize=(1.6 + 0.85 * size, 1.4 + 0.75 * size))
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(size), labels, rotation=45, ha="right")
    ax.set_yticks(
        range(size), [f"{n} ({int(t)})" for n, t in zip(labels, totals[:, 0], strict=True)]
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true class (utterances)")
    for i in range(size):
        for j in range(size):
            colour = "white" if shares[i, j] > 0.6 else "black"
            text = cell_text(shares[i, j], counts[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(textwrap.fill(title or "confusion matrix", 60), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


CURVES = ("train_loss", "val_loss", "val_uar")


def curves_png(histories: Sequence[Sequence[dict[str, float]]], path: Path) -> Path:
    """Training loss, validation loss and validation UA per epoch, averaged over the folds
    (and seeds) that reached the epoch, one line per stage, shaded between the lowest and
    highest fold."""
    by_stage: dict[str, dict[int, dict[str, list[float]]]] = {}
    for history in histories:
        for row in history:
            epochs = by_stage.setdefault(str(row.get("stage", "")), {})
            values = epochs.setdefault(int(row.get("epoch", 0)), {})
            for key in CURVES:
                if key in row and math.isfinite(row[key]):
                    values.setdefault(key, []).append(row[key])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for stage, epochs in by_stage.items():
        xs = sorted(epochs)
        for ax, key in zip(axes, CURVES, strict=True):
            rows = [epochs[x].get(key, []) for x in xs]
            mean = [float(np.mean(r)) if r else math.nan for r in rows]
            low = [min(r) if r else math.nan for r in rows]
            high = [max(r) if r else math.nan for r in rows]
            (line,) = ax.plot(xs, mean, label=stage)
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.15)
    for ax, key in zip(axes, CURVES, strict=True):
        ax.set_title(key)
        ax.set_xlabel("epoch")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"mean over {len(histories)} folds x seeds; shaded: lowest to highest", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class Bar:
    """One arm or level: its label, mean and 95% interval; ``reference`` bars get their own
    colour, ``leak`` (speaker-dependent) bars are hatched grey; ``mark`` (its verdict) is
    written beside its mean."""

    name: str
    mean: float
    low: float
    high: float
    reference: bool = False
    leak: bool = False
    mark: str = ""


def _wrap(name: str, width: int = 44) -> str:
    return textwrap.fill(name, width, subsequent_indent="  ", break_on_hyphens=False)


def _labels(bars: Sequence[Bar]) -> list[str]:
    return [_wrap(b.name) for b in bars]


def _height(bars: Sequence[Bar]) -> float:
    """Inches for a panel of ``bars``: room for the longest wrapped label on every row."""
    lines = max(label.count("\n") + 1 for label in _labels(bars))
    return len(bars) * (0.18 + 0.13 * lines)


def _bounded(value: float, fallback: float) -> float:
    """A score's interval end inside [0, 1] (scores cannot leave it), or ``fallback``."""
    return min(1.0, max(0.0, value)) if math.isfinite(value) else fallback


def _bars(ax, bars: Sequence[Bar], chance: float | None) -> None:
    """Horizontal bars, first at the top, with 95% interval whiskers (inside [0, 1]), each
    mean and verdict mark written beside its whisker, on an axis that ends at 1 at most."""
    ys = list(range(len(bars)))[::-1]
    colours = [REFERENCE if b.reference else LEAKED if b.leak else ARM for b in bars]
    lows = [_bounded(b.low, b.mean) for b in bars]
    highs = [_bounded(b.high, b.mean) for b in bars]
    errors = [[b.mean - lo for b, lo in zip(bars, lows, strict=True)],
              [hi - b.mean for b, hi in zip(bars, highs, strict=True)]]  # fmt: skip
    hatches = ["//" if b.leak else "" for b in bars]
    ax.barh(ys, [b.mean for b in bars], xerr=errors, color=colours, capsize=3, height=0.7,
            hatch=hatches, error_kw={"elinewidth": 1})  # fmt: skip
    texts = [f"{b.mean:.3f}" + (f" {b.mark}" if b.mark else "") for b in bars]
    widths = [0.02 + 0.012 * len(text) for text in texts]  # axis units at 800 px wide
    right_end = min(1.0, max(0.3, *(hi + w for hi, w in zip(highs, widths, strict=True))))
    for y, low, high, text, width in zip(ys, lows, highs, texts, widths, strict=True):
        if high + width <= right_end:
            ax.text(high + 0.01, y, text, va="center", fontsize=8)
        else:  # no room right of the whisker: left of it, over the bar
            box = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1}
            ax.text(low - 0.01, y, text, va="center", ha="right", fontsize=8, bbox=box)
    ax.set_yticks(ys, _labels(bars), fontsize=8)
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.set_xlim(0, right_end)
    if chance:
        ax.axvline(chance, color="black", linestyle="--", linewidth=1)
    ax.grid(axis="x", alpha=0.3)


def _xlabel(xlabel: str, chance: float | None) -> str:
    return f"{xlabel}; dashed: chance ({chance:.3f})" if chance else xlabel


def arms_png(
    bars: Sequence[Bar], chance: float | None, xlabel: str, title: str, path: Path
) -> Path:
    """One horizontal bar per arm, best at the top, 800 px wide: 95% interval whiskers, the
    reference arm in its own colour, speaker-dependent arms hatched grey, a chance line."""
    fig, ax = plt.subplots(figsize=(8, 1.2 + _height(bars)))
    _bars(ax, bars, chance)
    ax.set_xlabel(_xlabel(xlabel, chance), fontsize=8)
    fig.suptitle(_wrap(title, 110), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def effects_png(
    panels: Sequence[tuple[str, Sequence[Bar]]],
    interaction: tuple[str, str, Sequence[str], dict[str, Sequence[float]], str] | None,
    chance: float | None,
    xlabel: str,
    path: Path,
) -> Path:
    """One panel per factor (its levels' marginal means with 95% intervals, the best level
    coloured), then the cell means of the first two factors as lines (an interaction shows
    as lines that are not parallel)."""
    heights = [1.1 + _height(bars) for _, bars in panels] + ([3.4] if interaction else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(8, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    for ax, (title, bars) in zip(axes[:, 0], panels, strict=False):
        _bars(ax, bars, chance)
        ax.set_title(_wrap(title, 90), fontsize=9)
        ax.set_xlabel(_xlabel(xlabel, chance), fontsize=8)
    if interaction:
        ax = axes[-1, 0]
        x_name, line_name, x_levels, lines, title = interaction
        for level, means in lines.items():
            ax.plot(range(len(x_levels)), means, marker="o", label=f"{line_name}={level}")
        ax.set_xticks(range(len(x_levels)), [textwrap.fill(x, 18) for x in x_levels], fontsize=8)
        ax.set_xlabel(x_name, fontsize=8)
        ax.set_ylabel("mean over folds", fontsize=8)
        ax.set_title(_wrap(title, 90), fontsize=9)
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.3))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def paired_png(
    arms: Sequence[str],
    units: dict[str, dict[str, float]],
    chance: float | None,
    title: str,
    path: Path,
) -> Path:
    """Each test unit (a speaker) as one line across the arms, its score under each arm:
    a difference every speaker shares is parallel lines moving together; one that a few
    speakers carry is a few lines moving alone. Arms in ``arms`` order, left to right."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(arms) + 2.5), 4.2))
    xs = range(len(arms))
    for unit, scores in sorted(units.items()):
        points = [(x, scores[arm]) for x, arm in zip(xs, arms, strict=True) if arm in scores]
        if points:
            (line,) = ax.plot(*zip(*points, strict=True), marker="o", linewidth=1, alpha=0.8)
            ax.annotate(unit, points[-1], xytext=(4, 0), textcoords="offset points",
                        fontsize=7, va="center", color=line.get_color())  # fmt: skip
    ax.set_xticks(list(xs), [textwrap.fill(a, 16) for a in arms], fontsize=7)
    ax.set_ylim(0, 1)
    if chance:
        ax.axhline(chance, color="black", linestyle="--", linewidth=1)
    ax.set_ylabel("score per test speaker (seeds averaged)", fontsize=8)
    ax.set_title(_wrap(title, 90), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
