"""Load the scaled data (the output of the ``scale`` stage) for training.

Shapes follow the network's convention, one column per sample:

* ``X``: (features, samples) float64
* ``Y``: (1, samples) int64, 0 = benign, 1 = malignant
* ``ids``: (samples,) the sample ids (the UCI sample code number; the row index for WDBC)

A run reads its data once, with :func:`load_variant`: every file's bytes, then the parsed
parts, the meta.json and the scaler.json are all made from those bytes, checked cell by
cell and against the SHA-256 digests the ``scale`` stage recorded in meta.json. A problem
is a :class:`DataError` naming the file, line and column.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlnet.data.errors import DataError, DataNotBuiltError, located

PARTS = ("train", "val", "test")
META_FILE = "meta.json"
SCALER_FILE = "scaler.json"
# meta.json's record of what the `scale` stage wrote: {file name: SHA-256 hex digest}
DIGESTS_KEY = "sha256"
DIGESTED_FILES = (*(f"{part}.csv" for part in PARTS), SCALER_FILE)
# The keys a scaled meta.json must hold for a run to use it.
SCALED_META_KEYS = ("variant", "dataset", "scale", "features", "rows", DIGESTS_KEY)
# A scaled feature beyond this is not the output of a standard or min-max scaler: the data
# is broken, and training on it would be reported as a diverging learning rate.
MAX_SCALED_MAGNITUDE = 1e6
MIN_TRAIN_ROWS = 2


class BadDataError(DataError):
    """A data file's content is not what the stage that built it writes (a cell, a row, the header)."""


class DataChangedError(DataError):
    """A data file's bytes differ from the SHA-256 its stage recorded: it changed after the stage."""


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


@dataclass
class ScaledData:
    """One data variant as a run uses it, all made from one read of its files."""

    splits: dict[str, Split]  # train, val, test
    meta: dict[str, Any]  # the scale stage's meta.json
    files: dict[str, bytes]  # every file's bytes as read: train.csv val.csv test.csv scaler.json meta.json
    frames: dict[str, pd.DataFrame]  # the parts as tables (id, features, label)

    @property
    def scaler_bytes(self) -> bytes:
        """scaler.json as read with the parts: the scaler this data was scaled with."""
        return self.files[SCALER_FILE]

    @property
    def digest(self) -> str:
        """SHA-256 over the three parts' names and bytes (lineage.files_digest's formula)."""
        digest = hashlib.sha256()
        for part in PARTS:
            digest.update(f"{part}.csv".encode())
            digest.update(self.files[f"{part}.csv"])
        return digest.hexdigest()


def file_digests(folder: str | os.PathLike[str]) -> dict[str, str]:
    """``{file name: SHA-256}`` of the files of a scaled folder the stage records in meta.json."""
    return {name: hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest() for name in DIGESTED_FILES}


def _read_files(folder: Path, shown: Path, names: list[str], built_by: str) -> dict[str, bytes]:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataNotBuiltError(f"{shown}: {', '.join(missing)} not found; {built_by}")
    files = {}
    for name in names:
        try:
            files[name] = (folder / name).read_bytes()
        except OSError as error:
            raise DataError(f"{shown / name}: cannot be read ({error.strerror}); {built_by}") from None
    return files


def _parse_meta(shown: Path, raw: bytes, required: tuple[str, ...], fix: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BadDataError(f"{shown}: not UTF-8 text (byte {error.start}); {fix}") from None
    except json.JSONDecodeError as error:
        raise BadDataError(
            f"{shown}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}); {fix}"
        ) from None
    if not isinstance(meta, dict):
        raise BadDataError(f"{shown}: expected a JSON object; got {type(meta).__name__}; {fix}")
    missing = [key for key in required if key not in meta]
    if missing:
        raise BadDataError(f"{shown}: key{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing; {fix}")
    features = meta["features"]
    if not isinstance(features, list) or not features or not all(isinstance(name, str) for name in features):
        raise BadDataError(f"{shown}: key features: expected a list of column names; got {features!r}; {fix}")
    return meta


def _number(text: str, shown: Path, line: int, column: int, name: str, fix: str) -> float:
    try:
        value = float(text)
    except ValueError:
        what = "an empty cell" if not text.strip() else f"{text!r}, not a number"
        raise BadDataError(located(shown, line, column, name, f"{what}; {fix}")) from None
    if not math.isfinite(value):
        raise BadDataError(located(shown, line, column, name, f"{text!r}, not a finite number; {fix}"))
    return value


def parse_part(shown: Path, raw: bytes, columns: list[str], fix: str) -> pd.DataFrame:
    """One part's CSV bytes as a table (``id`` int, features float, ``label`` 0/1 int), checked cell by cell.

    Every cell must be a finite number, every id an integer, every label exactly 0 or 1, and
    every row must have the header's cells; a :class:`BadDataError` names the line and column.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadDataError(f"{shown}: not UTF-8 text (byte {error.start}); {fix}") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        return _parse_rows(shown, rows, columns, fix)
    except csv.Error as error:  # a NUL byte, an unclosed quote
        raise BadDataError(f"{shown}, line {rows.line_num}: not a CSV row ({error}); {fix}") from None


def _parse_rows(shown: Path, rows, columns: list[str], fix: str) -> pd.DataFrame:
    header = next(rows, None)
    if header is None:
        raise BadDataError(f"{shown}: the file is empty; expected a header line {','.join(columns)}; {fix}")
    if header != columns:
        raise BadDataError(f"{shown}: columns {header}; expected {columns} (from {META_FILE}); {fix}")
    ids, values, labels = [], [], []
    width = len(columns)
    for cells in rows:
        line = rows.line_num
        if len(cells) != width:
            said = "an empty line" if not cells else f"{len(cells)} cells"
            raise BadDataError(
                f"{shown}, line {line}: {said}; expected {width} ({','.join(columns)}): "
                f"a truncated or broken row; {fix}"
            )
        numbers = [
            _number(cell, shown, line, column, name, fix)
            for column, (cell, name) in enumerate(zip(cells, columns, strict=True), 1)
        ]
        if not numbers[0].is_integer():
            raise BadDataError(located(shown, line, 1, "id", f"{cells[0]!r}; expected an integer sample id; {fix}"))
        if numbers[-1] not in (0.0, 1.0):
            raise BadDataError(located(shown, line, width, "label", f"{cells[-1]!r}; expected 0 or 1; {fix}"))
        ids.append(int(numbers[0]))
        values.append(numbers[1:-1])
        labels.append(int(numbers[-1]))
    frame = pd.DataFrame(np.array(values, dtype=np.float64).reshape(len(values), width - 2), columns=columns[1:-1])
    frame.insert(0, "id", np.array(ids, dtype=np.int64))
    frame["label"] = np.array(labels, dtype=np.int64)
    return frame


def read_parts(folder: str | os.PathLike[str], built_by: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The three parts' CSVs and the meta.json of a stage's output `folder`, checked.

    Raises :class:`DataNotBuiltError` naming the missing files and what builds them
    (`built_by`), and :class:`DataError` when a file's header differs from meta.json's
    features or a cell is not what the stage writes (see :func:`parse_part`).
    """
    folder = Path(folder)
    files = _read_files(folder, folder, [META_FILE] + [f"{part}.csv" for part in PARTS], built_by)
    meta = _parse_meta(folder / META_FILE, files[META_FILE], ("features",), built_by)
    columns = ["id", *meta["features"], "label"]
    frames = {part: parse_part(folder / f"{part}.csv", files[f"{part}.csv"], columns, built_by) for part in PARTS}
    return frames, meta


def load_variant(
    folder: str | os.PathLike[str],
    *,
    shown: str | os.PathLike[str] | None = None,
    rebuild: str = "rebuild it: run `dvc repro`",
) -> ScaledData:
    """Read a scaled folder once and check it: a :class:`ScaledData`, or a :class:`DataError`.

    Checks, in order: meta.json is JSON with the keys a run needs; every cell of every part
    (see :func:`parse_part`), |x| <= 1e6 for the scaled features, at least two training rows
    of both classes; then every file against the SHA-256 the stage recorded in meta.json.
    Messages name ``shown`` (default: `folder`) and end with `rebuild` (the command to rebuild).
    """
    folder = Path(folder)
    shown = Path(shown) if shown is not None else folder
    signature = _signature(folder)
    if signature is not None and signature in _checked:
        return _copy(_checked[signature])
    data = _load_variant(folder, shown, rebuild)
    if signature is not None and signature == _signature(folder):  # unchanged while it was read
        _checked.clear()  # one variant kept: a sweep's jobs mostly read the same one, one after another
        _checked[signature] = _copy(data)
    return data


# What load_variant read and checked last, by the folder's signature (see _signature).
_checked: dict[tuple, ScaledData] = {}


def _signature(folder: Path) -> tuple | None:
    """The folder and, for each file load_variant reads, its inode, size and modification time
    (nanoseconds): a rebuild or an edit changes it. None when a file cannot be seen (then the read
    reports why). A sweep reads one variant for every job and for its pre-check; read once, checked
    once, it costs ~15 ms less each time."""
    try:
        stats = [(folder / name).stat() for name in (META_FILE, *DIGESTED_FILES)]
    except OSError:
        return None
    return (str(folder.resolve()), *((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats))


def _copy(data: ScaledData) -> ScaledData:
    """A copy a run may change without changing what the next run reads."""
    return ScaledData(
        splits={
            part: dataclasses.replace(split, X=split.X.copy(), Y=split.Y.copy(), ids=split.ids.copy())
            for part, split in data.splits.items()
        },
        meta=copy.deepcopy(data.meta),
        files=dict(data.files),
        frames={part: frame.copy() for part, frame in data.frames.items()},
    )


def _load_variant(folder: Path, shown: Path, rebuild: str) -> ScaledData:
    files = _read_files(folder, shown, [META_FILE, *DIGESTED_FILES], rebuild)
    meta = _parse_meta(shown / META_FILE, files[META_FILE], SCALED_META_KEYS, rebuild)
    features = list(meta["features"])
    columns = ["id", *features, "label"]
    frames = {part: parse_part(shown / f"{part}.csv", files[f"{part}.csv"], columns, rebuild) for part in PARTS}
    for part, frame in frames.items():
        _check_magnitudes(shown / f"{part}.csv", frame, features, rebuild)
    _check_training_set(shown / "train.csv", frames["train"], meta.get("labels"), rebuild)
    try:
        json.loads(files[SCALER_FILE].decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError
        raise BadDataError(f"{shown / SCALER_FILE}: not valid JSON ({error}); {rebuild}") from None
    _check_digests(shown, files, meta, rebuild)
    splits = {
        part: Split(
            X=np.ascontiguousarray(frame[features].to_numpy(dtype=np.float64).T),
            Y=frame["label"].to_numpy(dtype=np.int64).reshape(1, -1),
            ids=frame["id"].to_numpy(dtype=np.int64),
            feature_names=features,
        )
        for part, frame in frames.items()
    }
    return ScaledData(splits=splits, meta=meta, files=files, frames=frames)


def _check_magnitudes(shown: Path, frame: pd.DataFrame, features: list[str], fix: str) -> None:
    values = frame[features].to_numpy()
    beyond = np.argwhere(np.abs(values) > MAX_SCALED_MAGNITUDE)
    if beyond.size:
        row, column = beyond[0]
        raise BadDataError(
            located(
                shown,
                int(row) + 2,
                int(column) + 2,
                features[column],
                f"{float(values[row, column]):g} is not a scaled value (|x| > {MAX_SCALED_MAGNITUDE:g}); {fix}",
            )
        )


def _check_training_set(shown: Path, frame: pd.DataFrame, label_names: Any, fix: str) -> None:
    rows = len(frame)
    if rows < MIN_TRAIN_ROWS:
        said = "no rows (a header only)" if rows == 0 else f"{rows} row"
        raise BadDataError(f"{shown}: {said}; training needs at least {MIN_TRAIN_ROWS} rows of both classes; {fix}")
    classes = np.unique(frame["label"].to_numpy())
    if len(classes) < 2:
        label = int(classes[0])
        name = label_names.get(str(label), "") if isinstance(label_names, dict) else ""
        raise BadDataError(
            f"{shown}, column {len(frame.columns)} (label): all {rows} rows are {label}"
            f"{f' ({name})' if name else ''}; training needs both classes; {fix}"
        )


def _check_digests(shown: Path, files: dict[str, bytes], meta: dict[str, Any], fix: str) -> None:
    recorded = meta[DIGESTS_KEY]
    if not isinstance(recorded, dict):
        raise BadDataError(
            f"{shown / META_FILE}: key {DIGESTS_KEY}: expected {{file: digest}}; got {recorded!r}; {fix}"
        )
    for name in DIGESTED_FILES:
        if name not in recorded:
            raise BadDataError(f"{shown / META_FILE}: key {DIGESTS_KEY} records no digest of {name}; {fix}")
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != recorded[name]:
            raise DataChangedError(
                f"{shown / name} changed after the `scale` stage wrote it: its SHA-256 is {actual[:12]}…, "
                f"{META_FILE} recorded {str(recorded[name])[:12]}…; {fix}"
            )


def load_scaled(scaled_dir: str | os.PathLike[str] = "data/scaled") -> tuple[dict[str, Split], dict[str, Any]]:
    """Read a scaled folder: ``({"train": Split, "val": Split, "test": Split}, meta)``.

    ``meta`` is the stage's meta.json (dataset, split, scale method, raw_sha256, rows and
    class counts per part, feature names, file digests). Raises :class:`DataNotBuiltError`
    (a ``FileNotFoundError``) when the files are missing: run ``dvc repro`` first; and a
    :class:`DataError` naming file, line and column when they are broken (see :func:`load_variant`).
    """
    data = load_variant(scaled_dir)
    return data.splits, data.meta
