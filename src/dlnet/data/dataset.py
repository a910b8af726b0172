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


def read_parts(folder: str | os.PathLike[str], built_by: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The three parts' CSVs and the meta.json of a stage's output `folder`, checked.

    Raises :class:`DataNotBuiltError` naming the missing files and what builds them
    (`built_by`), and :class:`DataError` when a file's columns differ from meta.json's.
    """
    folder = Path(folder)
    names = [META_FILE] + [f"{part}.csv" for part in PARTS]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataNotBuiltError(f"{folder}: {', '.join(missing)} not found; {built_by}")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    columns = ["id", *meta["features"], "label"]
    frames = {}
    for part in PARTS:
        path = folder / f"{part}.csv"
        frame = pd.read_csv(path)
        if list(frame.columns) != columns:
            raise DataError(f"{path}: columns {list(frame.columns)}; expected {columns} (from {META_FILE})")
        frames[part] = frame
    return frames, meta


def load_scaled(scaled_dir: str | os.PathLike[str] = "data/scaled") -> tuple[dict[str, Split], dict[str, Any]]:
    """Read data/scaled: ``({"train": Split, "val": Split, "test": Split}, meta)``.

    ``meta`` is the stage's meta.json (dataset, split, scale method, raw_sha256, rows and
    class counts per part, feature names). Raises :class:`DataNotBuiltError` (a
    ``FileNotFoundError``) when the files are missing: run ``dvc repro`` first.
    """
    frames, meta = read_parts(scaled_dir, "the scaled data is not built: run `dvc repro`")
    features = list(meta["features"])
    splits = {}
    for part, frame in frames.items():
        labels = frame["label"].to_numpy(dtype=np.int64)
        if not np.isin(labels, (0, 1)).all():
            raise DataError(f"{Path(scaled_dir) / f'{part}.csv'}: column label holds values other than 0 and 1")
        splits[part] = Split(
            X=np.ascontiguousarray(frame[features].to_numpy(dtype=np.float64).T),
            Y=labels.reshape(1, -1),
            ids=frame["id"].to_numpy(dtype=np.int64),
            feature_names=features,
        )
    return splits, meta
