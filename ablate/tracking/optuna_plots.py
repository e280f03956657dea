"""Optuna's own plots of a study, on its parent run: only those that carry information.

A contour needs two parameters, parameter importances two to rank, an intermediate-value
plot reported values (a pruner's); Optuna draws an empty axis otherwise, which the study
run would show as a blank image. Those are not written.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
from optuna.trial import TrialState

from ablate.errors import first_line
from ablate.tracking.plots import plt

OPTUNA_PLOTS = (
    "plot_optimization_history",
    "plot_param_importances",
    "plot_slice",
    "plot_parallel_coordinate",
    "plot_contour",
    "plot_intermediate_values",
    "plot_timeline",
)
#: plots that compare parameters with each other: they need two
_PAIRS = ("plot_param_importances", "plot_contour")
#: plots drawn over the parameters: they need one
_PARAMS = ("plot_slice", "plot_parallel_coordinate")


def informative(name: str, study) -> bool:
    """Whether Optuna's ``name`` plot of ``study`` would show something."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    params = {key for t in complete for key in t.params}
    if name in _PAIRS:
        return len(complete) > 1 and len(params) > 1
    if name in _PARAMS:
        return bool(complete) and bool(params)
    if name == "plot_intermediate_values":
        return any(t.intermediate_values for t in trials)
    if name == "plot_optimization_history":
        return bool(complete)
    return bool(trials)


def _drawn(figure) -> bool:
    """Whether any axis of ``figure`` holds data (lines, markers, bars, images)."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in figure.axes)


def _readable_lines(figure) -> None:
    """Optuna's parallel-coordinate plot colours trials from white (worst: invisible) and
    puts the best on the top border: start the colours at a visible blue, and pad every
    axis by the same share of its range, so lines stay aligned with every axis's ticks."""
    from matplotlib.collections import LineCollection, QuadMesh
    from matplotlib.colors import ListedColormap

    blues = ListedColormap(plt.get_cmap("Blues")(np.linspace(0.35, 1.0, 256)))
    for ax in figure.axes:
        colourbar = any(isinstance(c, QuadMesh) for c in ax.collections)
        for collection in ax.collections:
            if isinstance(collection, LineCollection | QuadMesh):
                collection.set_cmap(blues)
        if not colourbar:
            low, high = ax.get_ylim()
            pad = (high - low) * 0.05
            ax.set_ylim(low - pad, high + pad)


def optuna_pngs(study, directory: Path) -> list[Path]:
    """Each Optuna matplotlib plot that carries information for ``study``. Optuna's and
    matplotlib's warnings while drawing ("experimental", a singular axis of one point) are
    not the user's business and stay out of the terminal."""
    logging.getLogger("optuna").setLevel(logging.ERROR)
    written = []
    for name in OPTUNA_PLOTS:
        path = directory / f"{name.removeprefix('plot_')}.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if informative(name, study) and _draw(name, study, path):
                written.append(path)
    return written


def _draw(name: str, study, path: Path) -> bool:
    """Optuna's ``name`` plot of ``study`` written to ``path``; False when it drew nothing."""
    import optuna.visualization.matplotlib as ovm

    try:
        result = getattr(ovm, name)(study)
        figure = result.figure if hasattr(result, "figure") else result.flat[0].figure
        if not _drawn(figure):
            return False
        if name == "plot_parallel_coordinate":
            _readable_lines(figure)
        figure.savefig(path, dpi=100, bbox_inches="tight")
        return True
    except ValueError:  # a plot Optuna refuses for this study: not applicable
        return False
    except Exception as exc:  # a fault in the plot: said, and the study's records are kept
        print(f"warning: Optuna's {name} was not drawn: {first_line(exc)}", file=sys.stderr)
        return False
    finally:
        plt.close("all")
