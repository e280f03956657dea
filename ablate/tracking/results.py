"""What a finished trial leaves in its MLflow child run: metrics, tags and artifacts.

Its metrics are the summaries over folds (with each test metric's 95% interval) and the
learning curves averaged over folds and seeds (``train/val_uar`` by epoch); per-fold
scores, series and weights are in the nested fold runs (:mod:`ablate.tracking.folds`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ablate.config import to_yaml
from ablate.intervals import score_interval
from ablate.tracking.folds import averaged_curves
from ablate.tracking.mlflow_store import Store
from ablate.tracking.plots import confusion_png, curves_png
from ablate.tracking.stats import fold_means
from ablate.tracking.views import display_tags
from ablate.training.metrics import TEST_METRICS

#: ``(seed, result)`` pairs: a trial trains once per seed
SeedResults = list[tuple[int, Any]]
#: where a trial's trained weights are, as its runs say
WEIGHTS = "every fold's trained weights: model.pt in each nested fold run (seed N fold M)"


def intervals(results: SeedResults) -> dict[str, float]:
    """Each test metric's 95% interval over the trial's test folds, inside [0, 1] (seeds
    averaged within a fold first, as ``ablate compare`` does): ``test_uar_ci95_low`` /
    ``_high``."""
    out = {}
    for metric in TEST_METRICS:
        values = {(seed, f.fold): f.metrics[metric] for seed, r in results for f in r.folds}
        interval = score_interval(list(fold_means(values).values()))
        out[f"test_{metric}_ci95_low"] = interval.low
        out[f"test_{metric}_ci95_high"] = interval.high
    return out


def headline(metrics: dict[str, float], results: SeedResults) -> str:
    """The trial run's description: its scores first (the metrics table is alphabetical),
    then where the detail is."""
    from ablate.tracking.tables import cell

    def score(name: str) -> str:
        low, high = metrics.get(f"{name}_ci95_low"), metrics.get(f"{name}_ci95_high")
        ci = f" (95% CI {cell(low)} to {cell(high)})" if low is not None else ""
        return f"{cell(metrics.get(f'{name}_mean'))}{ci}"

    folds, seeds = len(results[0][1].folds), len(results)
    return (
        f"**test UA {score('test_uar')}**, WA {score('test_war')}, F1 {score('test_f1')}: "
        f"means over {folds} test folds, each fold's {seeds} seed(s) averaged first.\n\n"
        "Per fold: the nested fold runs (scores, epoch series, weights `model.pt`). "
        "Artifacts: confusion.png (each true class's share, with counts), "
        "learning_curves.png, folds.json, config.yaml."
    )


def log_result(
    store: Store, run_id: str, config: DictConfig, results: SeedResults, metrics: dict[str, float]
) -> None:
    """Log a finished trial: its ``metrics`` (computed by the study), their intervals, the
    averaged learning curves, tags and artifacts."""
    first = results[0][1]
    spread = intervals(results)
    store.log_metrics(run_id, {**metrics, **spread})
    for epoch, values in averaged_curves(f.history for _, r in results for f in r.folds).items():
        store.log_metrics(run_id, values, step=epoch)
    store.set_tags(
        run_id,
        {
            "ablate.fingerprint": first.fingerprint,
            "ablate.speaker_independent": str(first.speaker_independent).lower(),
            "ablate.split": json.dumps(first.split, default=str),
            "ablate.label_names": json.dumps(first.label_names),
            "ablate.notes": "; ".join(first.notes) or "none",
            "ablate.weights": WEIGHTS,
            "mlflow.note.content": headline({**metrics, **spread}, results),
            **display_tags({**metrics, **spread}),
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(to_yaml(config))
        confusion = np.sum([f.confusion for _, r in results for f in r.folds], axis=0)
        title = (
            f"test UA {metrics['test_uar_mean']:.3f} (mean over {len(first.folds)} folds x "
            f"{len(results)} seeds); counts summed over them"
        )
        confusion_png(confusion.tolist(), first.label_names, out / "confusion.png", title)
        histories = [f.history for _, r in results for f in r.folds]
        curves_png(histories, out / "learning_curves.png")
        folds = [
            {
                "seed": seed,
                "fold": f.fold,
                "test_speakers": f.test_speakers,
                "metrics": f.metrics,
                "val_metrics": f.val_metrics,
                "per_class_recall": f.per_class_recall,
                "confusion": f.confusion,
                "best_epoch": f.best_epoch,
            }
            for seed, r in results
            for f in r.folds
        ]
        (out / "folds.json").write_text(json.dumps(folds, indent=1, default=str))
        if first.skipped:
            (out / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in first.skipped))
        store.log_dir(run_id, out)
