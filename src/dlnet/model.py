"""A trained network with its scaler: predicts from raw feature rows, as they appear in the raw data.

Pure NumPy and pandas (no MLflow): this is what the packaged MLflow model runs
(dlnet.tracking_model wraps it), what `dlnet-predict` validates input with, and what
the DVC `train` stage's model holds.

    rows (m, features) raw values  --check-->  X raw  --scaler-->  X scaled (m, features)
        --transpose-->  (features, m)  --TwoLayerNet.predict_proba-->  Yh (1, m)
        --> probability (m,), class = probability > threshold (1 = malignant)

The forward pass is the network's own (`TwoLayerNet.predict_proba`) and the scaler is the
`scale` stage's own (`Scaler.transform`), so a packaged model gives exactly the training
code's probabilities.

Input checks (every error names the row and the column): every feature column present, no
other column except an optional `id`, every value a number (a '?' or text is refused, never
coerced), finite, inside the data set's valid range, and a whole number where the raw data
holds only whole numbers (the original file's scores 1-10).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlnet.data.scale import Scaler
from dlnet.network import PARAM_NAMES, TwoLayerNet

ID_COLUMN = "id"
OUTPUT_COLUMNS = ("probability", "class")
WEIGHTS_FILE = "weights.npz"
SPEC_FILE = "model.json"
FORMAT_VERSION = 1


class InputError(ValueError):
    """Rows the model cannot predict from; the message names the row and the column."""


@dataclass(frozen=True)
class FeatureRange:
    """The values a raw feature can take: low <= x <= high, whole numbers only if `integer`."""

    low: float
    high: float
    integer: bool

    def describe(self) -> str:
        if self.integer:
            return f"an integer from {self.low:g} to {self.high:g}"
        if math.isinf(self.high):
            return f"a number >= {self.low:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": None if math.isinf(self.high) else self.high, "integer": self.integer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureRange:
        high = math.inf if data["high"] is None else float(data["high"])
        return cls(float(data["low"]), high, bool(data["integer"]))


def dataset_range(dataset: str) -> FeatureRange:
    """The valid range of every raw feature of `dataset` (the same for all its features)."""
    if dataset == "original":
        from dlnet.data.original import FEATURE_RANGE

        return FeatureRange(float(FEATURE_RANGE[0]), float(FEATURE_RANGE[1]), integer=True)
    if dataset == "wdbc":  # 30 measurements of cell nuclei (size, texture, shape): real, never negative
        return FeatureRange(0.0, math.inf, integer=False)
    raise ValueError(f"no valid range known for data set {dataset!r}; expected original or wdbc")


@dataclass
class RawModel:
    """The network, its scaler and what its input must look like.

    `params` holds W1 (hidden, features), b1 (hidden, 1), W2 (1, hidden), b2 (1, 1); `scaler`
    the fitted per-feature scaler; `features` the raw column names in the network's order.
    """

    dataset: str
    features: list[str]
    valid_range: FeatureRange
    scaler: Scaler
    params: dict[str, np.ndarray]
    threshold: float
    dtype: str = "float64"
    run_id: str | None = None

    def __post_init__(self) -> None:
        if list(self.scaler.features) != list(self.features):
            raise ValueError(f"the scaler's features {self.scaler.features} differ from the model's {self.features}")
        hidden = int(np.asarray(self.params["W1"]).shape[0])
        self._net = TwoLayerNet(len(self.features), hidden, params=self.params, dtype=np.dtype(self.dtype))

    @property
    def hidden_units(self) -> int:
        return self._net.hidden_units

    # -- input -----------------------------------------------------------------------------------

    def check_rows(self, rows: pd.DataFrame, row_names: Sequence[str] | None = None) -> np.ndarray:
        """The raw feature values of `rows` as a float64 array (m, features), in the model's order.

        Raises InputError naming the row and the column of the first problem: a missing or
        unexpected column, a value that is not a number, NaN or inf, a value outside the data
        set's valid range, a fraction where only whole numbers occur. A row is named by
        `row_names` (one per row, e.g. "INPUT.csv, line 7"), else as `row <index label>`.
        """
        if not isinstance(rows, pd.DataFrame):
            raise InputError(
                f"expected a pandas DataFrame with the columns {', '.join(self.features)}; got {type(rows).__name__}"
            )
        columns = [str(column) for column in rows.columns]
        missing = [name for name in self.features if name not in columns]
        if missing:
            raise InputError(
                f"column {', '.join(repr(m) for m in missing)} missing; expected the columns "
                f"{', '.join(self.features)} (and optionally {ID_COLUMN!r})"
            )
        extra = [name for name in columns if name not in self.features and name != ID_COLUMN]
        if extra:
            raise InputError(
                f"unexpected column {', '.join(repr(e) for e in extra)}; expected only "
                f"{', '.join(self.features)} (and optionally {ID_COLUMN!r})"
            )
        if len(set(columns)) != len(columns):
            twice = sorted({c for c in columns if columns.count(c) > 1})
            raise InputError(f"column {', '.join(repr(t) for t in twice)} appears more than once")
        if rows.empty:
            raise InputError("no rows to predict")
        if row_names is None:
            row_names = [f"row {label!r}" for label in rows.index]
        values = np.empty((len(rows), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            values[:, j] = self._check_column(rows[name], name, row_names)
        return values

    def _check_column(self, column: pd.Series, name: str, row_names: Sequence[str]) -> np.ndarray:
        expected = self.valid_range.describe()
        out = np.empty(len(column), dtype=np.float64)
        for position, value in enumerate(column.to_numpy(dtype=object)):
            where = f"{row_names[position]}, column {name!r}"
            if value is None or value is pd.NA:
                raise InputError(f"{where}: empty (a missing value); expected {expected}")
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                shown = "'?' (a missing value)" if value == "?" else repr(value)
                raise InputError(f"{where}: {shown} is not a number; expected {expected}")
            number = float(value)
            if math.isnan(number):
                raise InputError(f"{where}: NaN (a missing value); expected {expected}")
            if not (self.valid_range.low <= number <= self.valid_range.high):
                raise InputError(f"{where}: {value!r} is outside the valid range; expected {expected}")
            if self.valid_range.integer and not number.is_integer():
                raise InputError(f"{where}: {value!r} is not a whole number; expected {expected}")
            out[position] = number
        return out

    # -- prediction ------------------------------------------------------------------------------

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        """Yh for checked raw values (m, features): the probability of malignant, shape (m,)."""
        scaled = self.scaler.transform(raw)  # (m, features)
        return self._net.predict_proba(scaled.T)[0].astype(np.float64)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """`probability` (of malignant, float64) and `class` (int64, 1 = malignant) for each row.

        The result keeps the index of `rows` (and their `id` column, first, when they have one);
        InputError for rows it cannot predict from.
        """
        probability = self.predict_proba(self.check_rows(rows))
        out = pd.DataFrame(
            {"probability": probability, "class": (probability > self.threshold).astype(np.int64)},
            index=rows.index,
        )
        if ID_COLUMN in rows.columns:
            out.insert(0, ID_COLUMN, rows[ID_COLUMN].to_numpy())
        return out

    # -- files -----------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write model.json (data set, features, range, scaler, threshold) and weights.npz."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        spec = {
            "format": FORMAT_VERSION,
            "dataset": self.dataset,
            "features": list(self.features),
            "valid_range": self.valid_range.to_dict(),
            "scaler": self.scaler.to_dict(),
            "threshold": self.threshold,
            "dtype": self.dtype,
            "hidden_units": self.hidden_units,
            "run_id": self.run_id,
        }
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        np.savez(folder / WEIGHTS_FILE, allow_pickle=False, **{key: self._net.params[key] for key in PARAM_NAMES})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RawModel:
        folder = Path(folder)
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        if spec.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder / SPEC_FILE}: format {spec.get('format')!r}; this dlnet reads {FORMAT_VERSION}")
        with np.load(folder / WEIGHTS_FILE) as weights:
            params = {key: weights[key] for key in PARAM_NAMES}
        return cls(
            dataset=spec["dataset"],
            features=list(spec["features"]),
            valid_range=FeatureRange.from_dict(spec["valid_range"]),
            scaler=Scaler.from_dict(spec["scaler"]),
            params=params,
            threshold=float(spec["threshold"]),
            dtype=spec["dtype"],
            run_id=spec.get("run_id"),
        )


def raw_rows(model: RawModel, scaled: np.ndarray) -> pd.DataFrame:
    """Raw feature rows recovered from scaled ones (features, m): the scaler undone.

    Whole-number features are rounded back to the whole numbers they were (undoing the scaler
    leaves them within ~1e-15 of them). Used for the packaged model's input example.
    """
    raw = np.asarray(scaled, dtype=np.float64).T * model.scaler.divisor() + model.scaler.shift
    frame = pd.DataFrame(raw, columns=model.features)
    if model.valid_range.integer:
        frame = frame.round().astype(np.int64)
    return frame
