"""SER metrics per fold and their summary across folds."""

from __future__ import annotations

import math

import numpy as np

from ablate.intervals import t_interval

#: the test scores of every fold: unweighted average recall (UA), accuracy (WA), macro F1
TEST_METRICS = ("uar", "war", "f1")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]
) -> dict[str, object]:
    """WA (accuracy), UA (mean recall), macro-F1, per-class recall and the confusion matrix.

    UA and macro-F1 average over the classes present in ``y_true``: a leave-one-speaker-out
    fold may lack an emotion, and an absent class has no recall to average.
    """
    matrix = confusion_matrix(y_true, y_pred, len(label_names))
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix).astype(float)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=present)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(hits), where=denom > 0)
    return {
        "war": float(hits.sum() / max(1, matrix.sum())),
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_recall": {
            name: float(recall[i]) for i, name in enumerate(label_names) if present[i]
        },
        "confusion": matrix.tolist(),
    }


def summarise(values: list[float]) -> dict[str, float]:
    """Mean, sample std and the half-width of the 95% t-interval (NaN with one value)."""
    interval = t_interval(values)
    if interval.n < 2:
        return {"mean": interval.mean, "std": 0.0, "ci95": math.nan}
    return {"mean": interval.mean, "std": interval.sd, "ci95": interval.half}
