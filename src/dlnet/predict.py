"""`dlnet-predict`: the probability of malignant for raw rows, with a packaged model.

    dlnet-predict MODEL_URI INPUT.csv [-o OUT.csv] [--tracking-uri URI]
    dlnet-predict models:/dlnet-original@champion new_rows.csv -o predictions.csv

MODEL_URI is any MLflow model URI: models:/<name>@<alias>, models:/<name>/<version>,
runs:/<run id>/model, models:/<model id>, or a model folder (the DVC train stage's
models/dlnet). The store is --tracking-uri, else $MLFLOW_TRACKING_URI, else the project's
own (mlflow.db at the project root, where `dlnet-train` and `make repro` record runs).

INPUT.csv holds raw rows as in the raw data: the original file's format (no header; the
sample code number then the nine scores 1-10, or the nine scores alone), or a CSV whose
header names the columns (the features, optionally `id`). Writes one line per row:
`id,probability,class` (the id from the input, else the row's number from 1), to OUT.csv
or to the standard output. A bad row stops everything with an error naming the file, the
line and the column, exit status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dlnet.model import ID_COLUMN, InputError, RawModel

NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class PredictError(Exception):
    """A clear, user-facing reason why nothing was predicted."""


def _value(text: str):
    """An integer or float literal as a number, an empty field as None (missing); anything else
    stays text, for the model to refuse ('?', 'nan', 'abc')."""
    text = text.strip()
    if not text:
        return None
    if NUMBER.fullmatch(text):
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    return text


def read_rows(path: Path, model: RawModel) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The rows of `path` as a frame (feature columns, values as written), their ids, their names."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PredictError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PredictError(f"{path}: cannot read it ({error})") from None
    lines = [(number, fields) for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1) if fields]
    if not lines:
        raise PredictError(f"{path}: no rows; expected raw rows of the {model.dataset} data set")
    features = model.features
    first = [field.strip() for field in lines[0][1]]
    if any(name in first for name in (*features, ID_COLUMN)):
        columns, body = first, lines[1:]
        if not body:
            raise PredictError(f"{path}: only a header line; no rows to predict")
    else:
        columns, body = None, lines
    width = len(columns) if columns else len(body[0][1])
    if columns is None:
        if width == len(features) + 1:
            columns = [ID_COLUMN, *features]
        elif width == len(features):
            columns = list(features)
        else:
            raise PredictError(
                f"{path}, line {body[0][0]}: {width} comma-separated values; expected {len(features) + 1} "
                f"({ID_COLUMN}, then {', '.join(features)}) or {len(features)} (the features alone), "
                "or a header line naming the columns"
            )
    for number, fields in body:
        if len(fields) != len(columns):
            raise PredictError(
                f"{path}, line {number}: {len(fields)} comma-separated values; expected "
                f"{len(columns)} ({', '.join(columns)})"
            )
    frame = pd.DataFrame([[_value(field) for field in fields] for _, fields in body], columns=columns, dtype=object)
    names = [f"{path}, line {number}" for number, _ in body]
    ids = (
        [str(v) for v in frame[ID_COLUMN]] if ID_COLUMN in frame.columns else [str(i) for i in range(1, len(frame) + 1)]
    )
    return frame, ids, names


def predict_file(model_uri: str, input_path: Path, tracking_uri: str) -> pd.DataFrame:
    """id, probability and class for every row of `input_path`; PredictError for any problem."""
    from dlnet import tracking_model

    try:
        pyfunc = tracking_model.load(tracking_uri, model_uri)
        model = tracking_model.raw_model(pyfunc)
    except LookupError as error:
        raise PredictError(str(error)) from None
    frame, ids, names = read_rows(input_path, model)
    try:
        raw = model.check_rows(frame, row_names=names)
    except InputError as error:  # a row's problem names its line already; a column's gets the file
        message = str(error)
        raise PredictError(message if message.startswith(str(input_path)) else f"{input_path}: {message}") from None
    # Through MLflow's pyfunc interface, as `mlflow models serve` does it.
    predicted = pyfunc.predict(pd.DataFrame(raw, columns=model.features))
    return pd.DataFrame(
        {
            "id": ids,
            "probability": predicted["probability"].to_numpy(np.float64),
            "class": predicted["class"].to_numpy(np.int64),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlnet-predict",
        description=__doc__.split("\n\n")[0],
        epilog="MODEL_URI examples: models:/dlnet-original@champion, runs:/<run id>/model, models/dlnet",
    )
    parser.add_argument("model_uri", metavar="MODEL_URI", help="the MLflow model to predict with")
    parser.add_argument(
        "input", metavar="INPUT.csv", type=Path, help="raw rows (the raw data's format, with or without the id column)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT.csv",
        type=Path,
        help="where to write id,probability,class (default: standard output)",
    )
    parser.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI, else the project's mlflow.db)"
    )
    args = parser.parse_args(argv)

    from dlnet import tracking
    from dlnet.data.atomic import write_atomically
    from dlnet.lineage import project_root

    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or tracking.store_uri(project_root())
    try:
        predictions = predict_file(args.model_uri, args.input, tracking_uri)
    except PredictError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = predictions.to_csv(index=False, lineterminator="\n")
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, lambda out: out.write(text), "w")
        print(
            f"{len(predictions)} rows -> {args.output} ({int(predictions['class'].sum())} malignant)", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
