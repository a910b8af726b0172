"""Load the scaled data (the output of the ``scale`` stage) for training.

Shapes follow the network's convention, one column per sample:

* ``X``: (features, samples) float64
* ``Y``: (1, samples) int64, 0 = benign, 1 = malignant
* ``ids``: (samples,) the sample ids (the UCI sample code number; the row index for WDBC)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlnet.data.errors import DataError, DataNotBuiltError

PARTS = ("train", "val", "test")
META_FILE = "meta.json"


@dataclass
class Split:
    """One part of the data (train, val or test), samples as columns."""

    X: np.ndarray  # (features, samples) float64
    Y: np.ndarray  # (1, samples) int 0/1
    ids: np.ndarray  # (samples,)
    feature_names: list[str]

    @property
    def m(self) -> int:
        """Number of samples."""
        return int(self.X.shape[1])


def load_scaled(scaled_dir: str | os.PathLike[str] = "data/scaled") -> tuple[dict[str, Split], dict[str, Any]]:
    """Read data/scaled: ``({"train": Split, "val": Split, "test": Split}, meta)``.

    ``meta`` is the stage's meta.json (dataset, split, scale method, raw_sha256, rows and
    class counts per part, feature names). Raises :class:`DataNotBuiltError` (a
    ``FileNotFoundError``) when the files are missing: run ``dvc repro`` first.
    """
    scaled_dir = Path(scaled_dir)
    names = [META_FILE] + [f"{part}.csv" for part in PARTS]
    missing = [name for name in names if not (scaled_dir / name).is_file()]
    if missing:
        raise DataNotBuiltError(
            f"{scaled_dir}: {', '.join(missing)} not found; the scaled data is not built: run `dvc repro`"
        )
    meta = json.loads((scaled_dir / META_FILE).read_text(encoding="utf-8"))
    features = list(meta["features"])
    columns = ["id", *features, "label"]
    splits = {}
    for part in PARTS:
        path = scaled_dir / f"{part}.csv"
        frame = pd.read_csv(path)
        if list(frame.columns) != columns:
            raise DataError(f"{path}: columns {list(frame.columns)}; expected {columns} (from {META_FILE})")
        labels = frame["label"].to_numpy(dtype=np.int64)
        if not np.isin(labels, (0, 1)).all():
            raise DataError(f"{path}: column label holds values other than 0 and 1")
        splits[part] = Split(
            X=np.ascontiguousarray(frame[features].to_numpy(dtype=np.float64).T),
            Y=labels.reshape(1, -1),
            ids=frame["id"].to_numpy(dtype=np.int64),
            feature_names=features,
        )
    return splits, meta
