"""A sweep's runs as tables: CSV and GitHub-flavoured markdown, best validation accuracy first.

Functions
---------
results_table    a sweep's runs as CSV and markdown, best first
markdown_table   a DataFrame as a GitHub-flavoured markdown table
fmt_number       a swept value, compactly (0.07, 1e-05, 15)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlnet.data.atomic import write_atomically

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["results_table", "markdown_table", "fmt_number"]


def fmt_number(value: float) -> str:
    """Compact label for a swept value: 0.01, 0.07, 1e-05, 15."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:g}"


RESULT_COLUMNS = (
    "run",
    "optim.lr",
    "model.hidden_units",
    "batch.name",
    "batch.size",
    "epochs",
    "val/accuracy",
    "val/loss",
    "test/accuracy",
    "time/train_seconds",
    "status",
    "run_id",
)
# Shown only when the rows have them: a sweep's table leaves the test set out (see dlnet.sweep).
_OPTIONAL_COLUMNS = ("val/loss", "test/accuracy", "run_id")
_ACCURACY_COLUMNS = ("val/accuracy", "test/accuracy")
_SECONDS_COLUMNS = ("time/train_seconds",)
_INTEGER_COLUMNS = ("model.hidden_units", "batch.size", "epochs")


def _cell(value: Any, missing: bool, fmt: str | Callable[[Any], str] | None) -> str:
    if missing:
        return ""
    if callable(fmt):
        text = fmt(value)
    elif fmt is not None:
        text = format(value, fmt)
    elif isinstance(value, (float, np.floating)):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return text.replace("|", r"\|").replace("\n", " ")


def markdown_table(
    df: pd.DataFrame,
    *,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
) -> str:
    """``df`` as a GitHub-flavoured markdown table (header, rule, one line per row).

    ``formats`` maps a column to a format spec (``".3f"``) or a callable; floats
    default to 6 significant digits and missing values to an empty cell. Numeric
    columns are right-aligned. The index is not written.
    """
    import pandas as pd

    formats = dict(formats or {})
    columns = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    header = "| " + " | ".join(c.replace("|", r"\|") for c in columns) + " |"
    rule = "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"
    lines = [header, rule]
    missing = df.isna().to_numpy()
    for values, absent in zip(df.itertuples(index=False, name=None), missing, strict=True):
        cells = [_cell(v, na, formats.get(c)) for c, v, na in zip(df.columns, values, absent, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _results_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(list(rows))
    columns = [c for c in RESULT_COLUMNS if c not in _OPTIONAL_COLUMNS or c in df.columns]
    columns += [c for c in df.columns if c not in columns]
    df = df.reindex(columns=columns)
    for c in ("optim.lr", *_ACCURACY_COLUMNS, *_SECONDS_COLUMNS, "val/loss"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in _INTEGER_COLUMNS:
        values = pd.to_numeric(df[c], errors="coerce")
        whole = values.dropna()
        df[c] = values.round().astype("Int64") if (whole == whole.round()).all() else values
    for c in _ACCURACY_COLUMNS:
        if c in df.columns:
            df[c] = df[c].round(3)
    for c in _SECONDS_COLUMNS:
        df[c] = df[c].round(2)
    df = df.sort_values("val/accuracy", ascending=False, na_position="last", kind="mergesort")
    return df.reset_index(drop=True)


def results_table(
    rows: Sequence[Mapping[str, Any]],
    csv_path: str | os.PathLike[str],
    md_path: str | os.PathLike[str],
) -> tuple[Path, Path]:
    """A sweep's runs as a CSV and a markdown table, best validation accuracy first.

    Runs without a validation accuracy (failed) come last. Accuracies are
    rounded to 3 decimals and seconds to 2, in both files; integer columns stay
    integers. Unknown keys are kept as extra columns after the standard ones.
    """
    df = _results_frame(rows)
    formats: dict[str, str | Callable[[Any], str]] = {c: ".3f" for c in _ACCURACY_COLUMNS}
    formats.update({c: ".2f" for c in _SECONDS_COLUMNS})
    formats["val/loss"] = ".4f"
    formats["optim.lr"] = fmt_number
    csv_path = write_atomically(csv_path, lambda fh: df.to_csv(fh, index=False), "w")
    md_path = write_atomically(md_path, lambda fh: fh.write(markdown_table(df, formats=formats)), "w")
    return csv_path, md_path
