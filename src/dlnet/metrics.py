"""Classification metrics of the network's predictions, computed by scikit-learn.

Labels: 0 = benign, 1 = malignant. A sample is predicted malignant when its probability is
strictly greater than the threshold, as in the article.
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
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y, p = _labels_and_proba(Y, proba, threshold)
    y_pred = _predict(p, threshold)
    has_both_classes = 0 < y.sum() < y.size
    roc_auc = float(roc_auc_score(y, p)) if has_both_classes and np.isfinite(p).all() else float("nan")
    return {
        "accuracy": float(accuracy_score(y, y_pred)),
        "precision": float(precision_score(y, y_pred, zero_division=0)),
        "recall": float(recall_score(y, y_pred, zero_division=0)),
        "f1": float(f1_score(y, y_pred, zero_division=0)),
        "roc_auc": roc_auc,
    }


def confusion(Y, proba, threshold: float = 0.5) -> np.ndarray:
    """2x2 confusion matrix of counts: rows the true class, columns the predicted one,
    both in the order (benign, malignant). Y and proba are (1, m) or (m,)."""
    from sklearn.metrics import confusion_matrix

    y, p = _labels_and_proba(Y, proba, threshold)
    return confusion_matrix(y, _predict(p, threshold), labels=[0, 1])
