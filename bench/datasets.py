"""The benchmark's data sets, samples as columns as dlnet has them: X (features, m), Y (1, m).

Every set is used whole as a training set: the benchmark times training, it does not select a
model. Labels are 1 = malignant (or the positive class), 0 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_FILE = REPO / "data" / "raw" / "breast-cancer-wisconsin.data"


@dataclass(frozen=True)
class DataSet:
    name: str
    X: np.ndarray  # (features, m), float64, C-ordered
    Y: np.ndarray  # (1, m), float64 0/1
    note: str

    @property
    def shape(self) -> str:
        """`m×features`, the way the issue writes sizes (683×9)."""
        return f"{self.X.shape[1]}×{self.X.shape[0]}"


def _columns(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.ascontiguousarray(np.asarray(features, dtype=np.float64).T)
    Y = np.asarray(labels, dtype=np.float64).reshape(1, -1)
    return X, Y


def article() -> DataSet:
    """The article's data: the original UCI file, the 16 rows with '?' dropped (683×9), min-max scaled."""
    from dlnet.data.original import FEATURES, read_original

    table = read_original(ORIGINAL_FILE).dropna()
    features = table[FEATURES].to_numpy(dtype=np.float64)
    low, high = features.min(axis=0), features.max(axis=0)
    X, Y = _columns((features - low) / (high - low), table["label"].to_numpy())
    return DataSet("article", X, Y, "original UCI file, '?' rows dropped, min-max scaled")


def wdbc() -> DataSet:
    """WDBC as scikit-learn ships it (569×30), standardised; label 1 = malignant = 1 - target."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    features = np.asarray(bunch.data, dtype=np.float64)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    X, Y = _columns(features, 1 - np.asarray(bunch.target))
    return DataSet("wdbc", X, Y, "scikit-learn's load_breast_cancer, standardised")


def head(data: DataSet, rows: int) -> DataSet:
    """The first `rows` samples of `data` (for smoke runs)."""
    X, Y = np.ascontiguousarray(data.X[:, :rows]), np.ascontiguousarray(data.Y[:, :rows])
    return DataSet(data.name, X, Y, f"{data.note}; first {X.shape[1]} rows")


def synthetic(rows: int, features: int = 30, seed: int = 0) -> DataSet:
    """Standard normal features and labels from a noisy linear rule (about half positive)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((features, rows))
    w = rng.standard_normal(features)
    Y = ((w @ X + rng.standard_normal(rows)) > 0).astype(np.float64).reshape(1, -1)
    return DataSet(f"synthetic-{rows}x{features}", X, Y, "standard normal features, noisy linear labels")
