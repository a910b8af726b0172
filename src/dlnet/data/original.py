"""The original UCI Wisconsin breast cancer file (breast-cancer-wisconsin.data).

Format: plain text, no header, one sample per line, 11 comma-separated fields:
the sample code number, nine cytological features scored 1-10, and the class
(2 = benign, 4 = malignant). A missing feature is written ``?`` (16 times, all in
Bare Nuclei). Sample code numbers are not unique: one patient can have several rows.

:func:`read_original` parses the file line by line, so that any problem is reported
with its file, line and column (1-based) and the column's name. Windows (CRLF) line
endings and a UTF-8 byte-order mark are accepted; trailing blank lines are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlnet.data.errors import DataError, located

# (name in the UCI documentation, column name in dlnet's CSV files)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Sample code number", "id"),
    ("Clump Thickness", "clump_thickness"),
    ("Uniformity of Cell Size", "uniformity_of_cell_size"),
    ("Uniformity of Cell Shape", "uniformity_of_cell_shape"),
    ("Marginal Adhesion", "marginal_adhesion"),
    ("Single Epithelial Cell Size", "single_epithelial_cell_size"),
    ("Bare Nuclei", "bare_nuclei"),
    ("Bland Chromatin", "bland_chromatin"),
    ("Normal Nucleoli", "normal_nucleoli"),
    ("Mitoses", "mitoses"),
    ("Class", "label"),
)
FEATURES: list[str] = [column for _, column in COLUMNS[1:-1]]
MISSING = "?"
FEATURE_RANGE = (1, 10)
# The file's class codes -> dlnet's labels (1 = malignant everywhere in dlnet).
CLASS_TO_LABEL = {2: 0, 4: 1}
CLASS_NAMES = {2: "benign", 4: "malignant"}


def _integer(text: str) -> int | None:
    """The value of a plain decimal integer literal, or None."""
    return int(text) if text.isascii() and text.isdigit() else None


def _read_text(path: Path, shown: object) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{shown}: raw data file not found (data.raw)") from None
    except IsADirectoryError:
        raise DataError(f"{shown}: is a directory; expected the raw data file (data.raw)") from None
    except OSError as error:
        raise DataError(f"{shown}: cannot read the raw data file ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"{shown}, line {line}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    if not text.strip():
        raise DataError(
            f"{shown}: the file is empty; expected one sample per line, "
            f"{len(COLUMNS)} comma-separated values (id, 9 features, class)"
        )
    return text


def read_original(path: str | Path, shown: object = None) -> pd.DataFrame:
    """Parse and validate the UCI file.

    ``shown`` is how the file is named in error messages (default: ``path``).
    Returns one row per line, in file order, with the columns ``id`` (int64), the nine
    :data:`FEATURES` (float64, NaN where the file has ``?``) and ``label`` (int64:
    0 benign, 1 malignant). Raises :class:`DataError` naming the file, line and column
    of the first problem found.
    """
    path = Path(path)
    shown = path if shown is None else shown
    lines = _read_text(path, shown).splitlines()  # \n, \r\n and \r all end a line
    while lines and not lines[-1].strip():
        lines.pop()

    ids: list[int] = []
    features: list[list[float]] = []
    classes: list[int] = []
    low, high = FEATURE_RANGE
    for number, line in enumerate(lines, start=1):
        fields = [field.strip() for field in line.split(",")]
        if not line.strip():
            raise DataError(f"{shown}, line {number}: empty line; expected {len(COLUMNS)} comma-separated values")
        if len(fields) != len(COLUMNS):
            raise DataError(
                f"{shown}, line {number}: {len(fields)} comma-separated values; expected {len(COLUMNS)} "
                f"({', '.join(name for name, _ in COLUMNS)})"
            )

        def fail(column: int, expected: str, number: int = number, fields: list[str] = fields) -> DataError:
            return DataError(
                located(shown, number, column, COLUMNS[column - 1][0], f"{expected}; got {fields[column - 1]!r}")
            )

        sample_id = _integer(fields[0])
        if sample_id is None:
            raise fail(1, "expected a sample code number (a non-negative integer)")
        row: list[float] = []
        for column in range(2, len(COLUMNS)):
            text = fields[column - 1]
            if text == MISSING:
                row.append(np.nan)
                continue
            value = _integer(text)
            if value is None or not low <= value <= high:
                raise fail(column, f"expected an integer from {low} to {high}, or '{MISSING}' for a missing value")
            row.append(float(value))
        code = _integer(fields[-1])
        if code not in CLASS_TO_LABEL:
            raise fail(len(COLUMNS), "expected the class 2 (benign) or 4 (malignant)")
        ids.append(sample_id)
        features.append(row)
        classes.append(code)

    present = sorted(set(classes))
    if len(present) < 2:
        only = present[0]
        raise DataError(
            f"{shown}, column {len(COLUMNS)} (Class): only class {only} ({CLASS_NAMES[only]}) occurs in "
            f"{len(classes)} rows; expected both 2 (benign) and 4 (malignant)"
        )

    table = pd.DataFrame(np.array(features, dtype=np.float64), columns=FEATURES)
    table.insert(0, "id", np.array(ids, dtype=np.int64))
    table["label"] = np.array([CLASS_TO_LABEL[code] for code in classes], dtype=np.int64)
    return table
