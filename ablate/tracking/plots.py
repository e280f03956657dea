"""PNG figures for tracked runs: confusion matrix, learning curves, arms, Optuna plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OPTUNA_PLOTS = (
    "plot_optimization_history",
    "plot_param_importances",
    "plot_slice",
    "plot_parallel_coordinate",
    "plot_contour",
    "plot_intermediate_values",
    "plot_timeline",
)


def confusion_png(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    """Counts with true labels as rows and predictions as columns."""
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curves_png(histories: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Training loss, validation loss and validation UA per epoch, one line per fold/stage."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for label, history in histories.items():
        for stage in dict.fromkeys(h.get("stage", "") for h in history):
            rows = [h for h in history if h.get("stage", "") == stage]
            epochs = [h.get("epoch", i) for i, h in enumerate(rows)]
            name = f"{label} {stage}".strip()
            for ax, key in zip(axes, ("train_loss", "val_loss", "val_uar"), strict=True):
                ax.plot(epochs, [h.get(key, float("nan")) for h in rows], label=name)
    for ax, key in zip(axes, ("train_loss", "val_loss", "val_uar"), strict=True):
        ax.set_title(key)
        ax.set_xlabel("epoch")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def arms_png(
    names: Sequence[str], means: Sequence[float], stds: Sequence[float], metric: str, path: Path
) -> Path:
    """One bar per arm with its standard deviation as an error bar."""
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names)), 4))
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def optuna_pngs(study, directory: Path) -> list[Path]:
    """Each Optuna matplotlib plot that applies to ``study``; the others are skipped."""
    import optuna.visualization.matplotlib as ovm

    logging.getLogger("optuna").setLevel(logging.ERROR)
    written = []
    for name in OPTUNA_PLOTS:
        path = directory / f"{name.removeprefix('plot_')}.png"
        try:
            result = getattr(ovm, name)(study)
            figure = result.figure if hasattr(result, "figure") else result.flat[0].figure
            figure.savefig(path, dpi=100, bbox_inches="tight")
            written.append(path)
        except Exception:  # a plot that needs 2+ params, completed trials, ...: not applicable
            continue
        finally:
            plt.close("all")
    return written
