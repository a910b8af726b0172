"""Metrics against small examples worked out by hand."""

import math

import numpy as np
import pytest

from dlnet.metrics import classification_metrics, confusion

# Predicted (proba > 0.5):  1    0    0    1    1    0
Y = np.array([1, 0, 1, 1, 0, 0])
PROBA = np.array([0.9, 0.2, 0.4, 0.6, 0.7, 0.1])
# TP = 2 (samples 0, 3), FN = 1 (2), FP = 1 (4), TN = 2 (1, 5).
# ROC AUC: of the 9 (malignant, benign) pairs, 7 rank the malignant one higher.


def test_metrics_by_hand():
    m = classification_metrics(Y, PROBA)
    assert m == pytest.approx({"accuracy": 4 / 6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "roc_auc": 7 / 9})
    assert all(type(v) is float for v in m.values())


def test_confusion_by_hand():
    np.testing.assert_array_equal(confusion(Y, PROBA), [[2, 1], [1, 2]])


def test_row_and_flat_shapes_agree():
    flat = classification_metrics(Y, PROBA)
    assert classification_metrics(Y.reshape(1, -1), PROBA.reshape(1, -1)) == flat
    assert classification_metrics(Y.astype(float).reshape(1, -1), PROBA) == flat
    np.testing.assert_array_equal(confusion(Y.reshape(1, -1), PROBA.reshape(1, -1)), confusion(Y, PROBA))


def test_prediction_is_strictly_above_the_threshold():
    y, p = np.array([1, 0]), np.array([0.5, 0.5])
    np.testing.assert_array_equal(confusion(y, p), [[1, 0], [1, 0]])  # 0.5 is not > 0.5
    np.testing.assert_array_equal(confusion(y, p, threshold=0.4), [[0, 1], [0, 1]])
    # Threshold 0.65: sample 3 (0.6) becomes benign, sample 4 (0.7) stays malignant.
    np.testing.assert_array_equal(confusion(Y, PROBA, threshold=0.65), [[2, 1], [2, 1]])


def test_undefined_values():
    # No malignant prediction: precision 0, not an error; one class only: ROC AUC NaN.
    m = classification_metrics(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.3]))
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    m = classification_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.7]))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(m["roc_auc"])
    np.testing.assert_array_equal(confusion(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.7])), [[2, 1], [0, 0]])


def test_nan_probabilities_from_a_diverged_net():
    m = classification_metrics(np.array([0, 1, 1]), np.array([np.nan, np.nan, 0.9]))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(m["roc_auc"])


@pytest.mark.parametrize(
    "y, p, kwargs, match",
    [
        (np.array([0, 2]), np.array([0.1, 0.2]), {}, "Y must hold only 0/1 labels"),
        (np.array([0, 1]), np.array([0.1, 0.2, 0.3]), {}, "same number of samples"),
        (np.zeros((2, 2)), np.zeros((2, 2)), {}, r"Y must have shape \(1, m\) or \(m,\)"),
        (np.array([0, 1]), np.array([0.1, 0.2]), {"threshold": 2.0}, "threshold must be a number in"),
    ],
)
def test_bad_input(y, p, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, p, **kwargs)
    with pytest.raises(ValueError, match=match):
        confusion(y, p, **kwargs)


@pytest.mark.parametrize("seed", range(5))
def test_same_values_as_scikit_learn(seed):
    """The NumPy definitions agree with scikit-learn's, ties and edge cases included."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 300))
    y = rng.integers(0, 2, m)
    y[:2] = [0, 1]
    p = rng.random(m).round(int(rng.integers(1, 4)))  # rounded: many ties, some exactly at the threshold
    threshold = float(rng.choice([0.5, 0.3, p[0]]))
    ours = classification_metrics(y, p, threshold)
    y_pred = (p > threshold).astype(int)
    theirs = {
        "accuracy": accuracy_score(y, y_pred),
        "precision": precision_score(y, y_pred, zero_division=0),
        "recall": recall_score(y, y_pred, zero_division=0),
        "f1": f1_score(y, y_pred, zero_division=0),
        "roc_auc": roc_auc_score(y, p),
    }
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(confusion(y, p, threshold), confusion_matrix(y, y_pred, labels=[0, 1]))
