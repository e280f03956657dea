import math

import numpy as np
import pytest

from ablate.training.metrics import classification_metrics, confusion_matrix, summarise

LABELS = ["a", "b", "c"]


def test_confusion_rows_are_true_columns_predicted():
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_ua_wa_f1_on_a_hand_computed_example():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["war"] == pytest.approx(6 / 8)
    assert m["uar"] == pytest.approx((3 / 4 + 2 / 2 + 1 / 2) / 3)
    f1_a = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)
    f1_b = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    f1_c = 2 * 1 * (1 / 2) / (1 + 1 / 2)
    assert m["f1"] == pytest.approx((f1_a + f1_b + f1_c) / 3)
    assert m["per_class_recall"] == pytest.approx({"a": 0.75, "b": 1.0, "c": 0.5})


def test_absent_class_is_left_out_of_ua():
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), LABELS)
    assert m["uar"] == pytest.approx((0.5 + 1.0) / 2)
    assert "c" not in m["per_class_recall"]


def test_summary_t_interval():
    s = summarise([0.5, 0.6, 0.7])
    assert s["mean"] == pytest.approx(0.6)
    assert s["std"] == pytest.approx(0.1)
    assert s["ci95"] == pytest.approx(4.302652729911275 * 0.1 / math.sqrt(3))


def test_single_fold_has_no_interval():
    assert math.isnan(summarise([0.4])["ci95"])
