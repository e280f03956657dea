"""What a finished trial leaves in its MLflow child run: metrics, tags and artifacts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ablate.config import to_yaml
from ablate.tracking.mlflow_store import Store
from ablate.tracking.plots import confusion_png, curves_png

#: ``(seed, result)`` pairs: a trial trains once per seed
SeedResults = list[tuple[int, Any]]
FOLD_METRIC = "seed{seed}/fold{fold}/test_{name}"
#: the distillation teacher's own score on the same fold
TEACHER_FOLD_METRIC = "seed{seed}/fold{fold}/teacher_test_{name}"


def fold_metrics(results: SeedResults) -> dict[str, float]:
    """Per-fold test metrics (and the teacher's), keyed so ``ablate compare`` can pair arms
    over seeds and folds."""
    metrics = {}
    for seed, result in results:
        for fold in result.folds:
            for template, values in (
                (FOLD_METRIC, fold.metrics),
                (TEACHER_FOLD_METRIC, fold.teacher_metrics),
            ):
                for name, value in values.items():
                    metrics[template.format(seed=seed, fold=fold.fold, name=name)] = value
    return metrics


def log_result(
    store: Store, run_id: str, config: DictConfig, results: SeedResults, metrics: dict[str, float]
) -> None:
    """Log a finished trial: its ``metrics`` (computed by the study), per-fold metrics, tags
    and artifacts."""
    first = results[0][1]
    store.log_metrics(run_id, {**metrics, **fold_metrics(results)})
    store.set_tags(
        run_id,
        {
            "ablate.fingerprint": first.fingerprint,
            "ablate.speaker_independent": str(first.speaker_independent).lower(),
            "ablate.split": json.dumps(first.split, default=str),
            "ablate.label_names": json.dumps(first.label_names),
            "ablate.notes": "; ".join(first.notes) or "none",
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(to_yaml(config))
        confusion = np.sum([f.confusion for _, r in results for f in r.folds], axis=0)
        confusion_png(confusion.tolist(), first.label_names, out / "confusion.png")
        histories = {f"s{seed} f{f.fold}": f.history for seed, r in results for f in r.folds}
        curves_png(histories, out / "learning_curves.png")
        torch.save(first.folds[0].state_dict, out / "model_fold0.pt")
        folds = [
            {
                "seed": seed,
                "fold": f.fold,
                "test_speakers": f.test_speakers,
                "metrics": f.metrics,
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
