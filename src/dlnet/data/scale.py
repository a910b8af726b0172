"""DVC stage ``scale``: data/prepared/<data> -> data/scaled/<data>-<method>/ (parts, scaler.json, meta.json).

    python -m dlnet.data.scale --scale conf/scale/minmax.yaml --in data/prepared/wdbc --out data/scaled/wdbc-minmax
    python -m dlnet.data.scale [--params params.yaml]     (data.variant and scale.method from params.yaml)

Fits the scaler named by ``scale.method`` on the train part ONLY, then applies it to
train, val and test (fitting on all rows, as the article did, leaks the validation
data into the features):

* ``standard``: ``(x - mean) / std`` with the population std (ddof=0); a constant
  feature (std 0) is divided by 1 instead;
* ``minmax``: ``(x - min) / (max - min)``; a constant feature (range 0) is divided by 1.

Writes the scaled parts (same columns as the prepared ones), scaler.json (the method,
the feature names and the fitted parameters per feature) and meta.json: the dataset
and split parameters and the raw data's digest recorded by ``prepare``, the scale
method, the rows and class counts per part, and the SHA-256 of every file it wrote
(``sha256``: a run refuses a file that changed since). The lineage is taken from prepare's
meta.json rather than from params.yaml, so it always describes the data actually
scaled; the stage itself reads only ``scale.method``.

Relative paths are taken from the directory of the params file (the project root).
The output directory is replaced atomically. Expected problems print ``error: ...``
and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlnet.data.atomic import atomic_directory
from dlnet.data.dataset import DIGESTS_KEY, file_digests, read_parts
from dlnet.data.errors import DataError, run_stage
from dlnet.data.params import load_group_file, load_params, scale_params
from dlnet.data.split import class_counts
from dlnet.data.variants import PREPARED_DIR, SCALED_DIR, prepared_dir, scaled_dir, scaled_name

DEFAULT_IN = PREPARED_DIR  # / <data.variant>
DEFAULT_OUT = SCALED_DIR  # / <data.variant>-<scale.method>
SCALER_FILE = "scaler.json"
META_FILE = "meta.json"  # both prepare's record (read) and this stage's (written)
# meta.json keys copied from prepare's record
LINEAGE_KEYS = ("dataset", "missing", "split", "val_fraction", "test_fraction", "split_seed", "raw", "raw_sha256")
# the names of each method's two fitted parameters: x -> (x - shift) / scale
PARAM_NAMES = {"standard": ("mean", "std"), "minmax": ("min", "max")}


@dataclass
class Scaler:
    """A fitted per-feature affine scaler.

    ``shift`` and ``spread`` are (features,) arrays: mean and std for ``standard``,
    min and max for ``minmax``. :meth:`transform` divides by the std, or by max - min,
    replacing a zero divisor by 1.
    """

    method: str
    features: list[str]
    shift: np.ndarray
    spread: np.ndarray

    @classmethod
    def fit(cls, method: str, X: np.ndarray, features: list[str]) -> Scaler:
        """Fit on ``X`` of shape (samples, features); the train part only."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != len(features):
            raise DataError(f"cannot fit a scaler on an array of shape {X.shape} with {len(features)} features")
        if method == "standard":
            return cls(method, list(features), X.mean(axis=0), X.std(axis=0, ddof=0))
        if method == "minmax":
            return cls(method, list(features), X.min(axis=0), X.max(axis=0))
        raise DataError(f"scale.method must be one of {', '.join(PARAM_NAMES)}; got {method!r}")

    def divisor(self) -> np.ndarray:
        divisor = self.spread if self.method == "standard" else self.spread - self.shift
        return np.where(divisor == 0, 1.0, divisor)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale ``X`` of shape (samples, features)."""
        return (np.asarray(X, dtype=np.float64) - self.shift) / self.divisor()

    def to_dict(self) -> dict[str, Any]:
        first, second = PARAM_NAMES[self.method]
        return {
            "method": self.method,
            "features": self.features,
            "params": {
                name: {first: float(a), second: float(b)}
                for name, a, b in zip(self.features, self.shift, self.spread, strict=True)
            },
            "formula": "(x - mean) / std, std 0 -> 1"
            if self.method == "standard"
            else "(x - min) / (max - min), range 0 -> 1",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        first, second = PARAM_NAMES[data["method"]]
        features = list(data["features"])
        shift = np.array([data["params"][name][first] for name in features], dtype=np.float64)
        spread = np.array([data["params"][name][second] for name in features], dtype=np.float64)
        return cls(data["method"], features, shift, spread)


def read_prepared(in_dir: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The prepared parts and prepare's meta.json; :class:`DataNotBuiltError` if missing."""
    in_dir = Path(in_dir)
    parts, meta = read_parts(
        in_dir, "the prepared data is not built: run `dvc repro` (or `python -m dlnet.data.prepare`)"
    )
    for part, frame in parts.items():
        if frame.isna().any().any():
            raise DataError(f"{in_dir / f'{part}.csv'}: has missing values; expected none after prepare")
    if parts["train"].empty:
        raise DataError(f"{in_dir / 'train.csv'}: the train part is empty; nothing to fit the scaler on")
    return parts, meta


def scale_parts(
    parts: dict[str, pd.DataFrame], features: list[str], method: str
) -> tuple[dict[str, pd.DataFrame], Scaler]:
    """Fit on ``parts["train"]`` only and return every part scaled, and the scaler."""
    scaler = Scaler.fit(method, parts["train"][features].to_numpy(dtype=np.float64), features)
    scaled = {}
    for name, frame in parts.items():
        out = frame.copy()
        out[features] = scaler.transform(frame[features].to_numpy(dtype=np.float64))
        scaled[name] = out
    return scaled, scaler


def scale_meta(prepared_meta: dict[str, Any], method: str, scaled: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """meta.json of the scaled data."""
    data_variant = prepared_meta.get("variant", prepared_meta["dataset"])
    return {
        "variant": scaled_name(data_variant, method),
        "data_variant": data_variant,
        **{key: prepared_meta[key] for key in LINEAGE_KEYS},
        "scale": method,
        "features": list(prepared_meta["features"]),
        "labels": prepared_meta.get("labels", {"0": "benign", "1": "malignant"}),
        "rows": {name: len(frame) for name, frame in scaled.items()},
        "class_counts": {name: class_counts(frame) for name, frame in scaled.items()},
    }


def write_scaled(out: Path, scaled: dict[str, pd.DataFrame], scaler: Scaler, meta: dict[str, Any]) -> None:
    """Write the scaled parts, scaler.json and meta.json (+ every other file's SHA-256); ``out`` is replaced
    atomically."""
    with atomic_directory(out) as tmp:
        for name, frame in scaled.items():
            frame.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
        (tmp / SCALER_FILE).write_text(json.dumps(scaler.to_dict(), indent=2) + "\n", encoding="utf-8")
        # what a run checks its files against: any change after this stage is refused
        digests = {DIGESTS_KEY: file_digests(tmp)}
        (tmp / META_FILE).write_text(json.dumps({**meta, **digests}, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dlnet.data.scale``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dlnet.data.scale", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scale", type=Path, default=None, help="a scaling's file: conf/scale/<method>.yaml")
    source.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    parser.add_argument(
        "--in", dest="in_dir", type=Path, default=None, help=f"prepared data (default: {DEFAULT_IN}/<data.variant>)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output directory (default: {DEFAULT_OUT}/<data.variant>-<scale.method>)",
    )
    args = parser.parse_args(argv)

    def stage() -> None:
        if args.scale is not None:
            root, params = Path("."), load_group_file(args.scale, "scale")
        else:
            root, params = args.params.parent, load_params(args.params)
        method = scale_params(params, source=args.scale or args.params).method
        data_variant = str((params.get("data") or {}).get("variant") or "original")
        parts, prepared_meta = read_prepared(
            args.in_dir if args.in_dir is not None else root / prepared_dir(data_variant)
        )
        scaled, scaler = scale_parts(parts, list(prepared_meta["features"]), method)
        meta = scale_meta(prepared_meta, method, scaled)
        default_out = scaled_dir(prepared_meta.get("variant", data_variant), method)
        out = args.out if args.out is not None else root / default_out
        write_scaled(out, scaled, scaler, meta)
        print(f"scale: {method} fitted on train ({meta['rows']['train']} rows) -> {out}")

    return run_stage(stage)


if __name__ == "__main__":
    raise SystemExit(main())
