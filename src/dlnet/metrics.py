"""Classification metrics of the network's predictions, in NumPy.

Labels: 0 = benign, 1 = malignant. A sample is predicted malignant when its probability is
strictly greater than the threshold, as in the article. The definitions are scikit-learn's
(tests/test_metrics.py compares them on random data, ties included); computing them from the
four counts costs microseconds, where importing scikit-learn's metrics costs a second and each
of its calls milliseconds: every run computes them for three splits.
"""

from __future__ import annotations

from numbers import Real

import numpy as np


def _labels_and_proba(Y, proba, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Flatten Y and proba, each (1, m) or (m,), to 1-D arrays of m, checking labels and threshold."""
    y = np.asarray(Y)
    p = np.asarray(proba, dtype=np.float64)
    for name, a in (("Y", y), ("proba", p)):
        if not (a.ndim == 1 or (a.ndim == 2 and a.shape[0] == 1)):
            raise ValueError(f"{name} must have shape (1, m) or (m,); got {a.shape}")
    y, p = y.ravel(), p.ravel()
    if y.size != p.size:
        raise ValueError(f"Y and proba must hold the same number of samples; got {y.size} and {p.size}")
    if y.size == 0:
        raise ValueError("Y must hold at least one sample")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"Y must hold only 0/1 labels; found {np.unique(y[~np.isin(y, (0, 1))])[:5].tolist()}")
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
    return y.astype(int), p


def _predict(p: np.ndarray, threshold: float) -> np.ndarray:
    # NaN probabilities (a diverged net) compare False: predicted benign.
    return (p > threshold).astype(int)


def classification_metrics(Y, proba, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and ROC AUC of probabilities `proba` against labels Y.

    Y and proba are (1, m) or (m,). Precision and recall are 0 when undefined (no predicted or no
    actual malignant sample). ROC AUC is NaN when Y holds only one class, or proba holds NaN.
    """
    y, p = _labels_and_proba(Y, proba, threshold)
    (tn, fp), (fn, tp) = _counts(y, _predict(p, threshold)).tolist()
    has_both_classes = 0 < tp + fn < y.size
    roc_auc = _roc_auc(y, p) if has_both_classes and np.isfinite(p).all() else float("nan")
    return {
        "accuracy": (tp + tn) / y.size,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "roc_auc": roc_auc,
    }


def _counts(y: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[[TN, FP], [FN, TP]]: rows the true class, columns the predicted one."""
    return np.bincount(2 * y + y_pred, minlength=4).reshape(2, 2)


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a malignant sample scores above a benign one,
    ties counting half (the Mann-Whitney U statistic over both classes' sizes)."""
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based, ties given their mean rank
    positives = int(y.sum())
    negatives = y.size - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def confusion(Y, proba, threshold: float = 0.5) -> np.ndarray:
    """2x2 confusion matrix of counts: rows the true class, columns the predicted one,
    both in the order (benign, malignant). Y and proba are (1, m) or (m,)."""
    y, p = _labels_and_proba(Y, proba, threshold)
    return _counts(y, _predict(p, threshold))
