"""DVC stage ``prepare``: raw data -> data/prepared/{train,val,test}.csv + meta.json.

    python -m dlnet.data.prepare --data conf/data/original.yaml [--out data/prepared/original]
    python -m dlnet.data.prepare [--params params.yaml] [--out data/prepared/<data.variant>]

Reads one data variant's keys: its file in conf/data/ (what dvc.yaml's matrix stage
gives), or the ``data.*`` keys of params.yaml. Then:

1. reads the raw data: the original UCI file at ``data.raw`` (parsed and validated line
   by line, see :mod:`dlnet.data.original`) or scikit-learn's WDBC (``data.name=wdbc``);
2. ``data.missing=drop`` drops every row with a missing value (the article's way:
   683 of 699 rows remain, 444 benign / 239 malignant);
3. splits the rows (``data.split``): ``stratified`` is class-stratified, group-aware
   (one sample id in one part only) and seeded by ``data.split_seed``, with
   ``data.val_fraction`` / ``data.test_fraction`` of the rows in val / test; ``article``
   is the article's rows 0-499 train, 501-682 validation, no test;
4. ``data.missing=median`` fills each missing value with the median of its feature over
   the train part (after the split, so val and test do not leak into it);
5. writes train.csv, val.csv, test.csv (columns ``id``, the features, ``label`` with
   0 = benign, 1 = malignant; an empty part is a header-only file) and meta.json (the
   parameters, the raw data's SHA-256, rows and class counts per part, imputed values).

Relative paths (``data.raw``, ``--out``) are taken from the project root: the directory
of the params file, or the current one with ``--data`` (DVC runs stages there). The output
directory is replaced atomically: a failed run leaves nothing behind. Expected problems print
``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlnet.data import original, wdbc
from dlnet.data.atomic import atomic_directory
from dlnet.data.errors import DataError, run_stage
from dlnet.data.params import DataParams, data_params, load_group_file, load_params
from dlnet.data.split import LABEL_NAMES, PARTS, article_split, check_parts, class_counts, stratified_group_split
from dlnet.data.variants import PREPARED_DIR, prepared_dir

DEFAULT_OUT = PREPARED_DIR  # / <data.variant>
META_FILE = "meta.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_raw(params: DataParams, root: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The raw table (``id``, features, ``label``) and where it came from (``raw``, ``raw_sha256``)."""
    if params.name == "wdbc":
        return wdbc.read_wdbc(), {"raw": wdbc.source_description(), "raw_sha256": wdbc.source_sha256()}
    assert params.raw is not None
    path = root / params.raw
    table = original.read_original(path, shown=params.raw)
    return table, {"raw": params.raw, "raw_sha256": _sha256(path)}


def impute_train_median(parts: dict[str, pd.DataFrame], features: list[str]) -> dict[str, float]:
    """Fill missing values in every part with the train part's median; return the medians used."""
    imputed: dict[str, float] = {}
    for feature in features:
        if not any(frame[feature].isna().any() for frame in parts.values()):
            continue
        median = parts["train"][feature].median(skipna=True)
        if pd.isna(median):
            raise DataError(f"data.missing=median: the train part has no value of {feature} to take a median of")
        imputed[feature] = float(median)
        for frame in parts.values():
            frame[feature] = frame[feature].fillna(median)
    return imputed


def prepare(params: DataParams, root: str | Path = ".") -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read, clean and split the data; nothing is written.

    Returns ``({"train": df, "val": df, "test": df}, meta)``. Each frame has the columns
    ``id``, the features and ``label``, rows in file order.
    """
    table, source = read_raw(params, Path(root))
    features = [column for column in table.columns if column not in ("id", "label")]
    rows_read = len(table)
    if params.missing == "drop":
        table = table[~table[features].isna().any(axis=1)].reset_index(drop=True)

    labels = table["label"].to_numpy(dtype=np.int64)
    if params.split == "article":
        assignment = article_split(len(table))
        check_parts(assignment, labels, "data.split=article", required=(0, 1))
    else:
        assignment = stratified_group_split(
            labels, table["id"].to_numpy(), params.val_fraction, params.test_fraction, params.split_seed
        )
    parts = {name: table[assignment == index].reset_index(drop=True) for index, name in enumerate(PARTS)}

    imputed = impute_train_median(parts, features) if params.missing == "median" else {}
    if params.name == "original":  # scores 1-10: keep them integers unless a median made them halves
        for feature in features:
            if all((frame[feature] % 1 == 0).all() for frame in parts.values()):
                for frame in parts.values():
                    frame[feature] = frame[feature].astype(np.int64)

    meta: dict[str, Any] = {
        "variant": params.variant,
        "dataset": params.name,
        "missing": params.missing,
        "split": params.split,
        "val_fraction": params.val_fraction,
        "test_fraction": params.test_fraction,
        "split_seed": params.split_seed,
        **source,
        "rows_read": rows_read,
        "rows_dropped": rows_read - len(table),
        "rows_unused": int((assignment < 0).sum()),
        "imputed": imputed,
        "features": features,
        "labels": {"0": LABEL_NAMES[0], "1": LABEL_NAMES[1]},
        "rows": {name: len(frame) for name, frame in parts.items()},
        "class_counts": {name: class_counts(frame) for name, frame in parts.items()},
    }
    return parts, meta


def write_parts(out_dir: str | Path, parts: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    """Write ``<part>.csv`` for each part and meta.json, replacing ``out_dir`` atomically."""
    with atomic_directory(out_dir) as tmp:
        for name, frame in parts.items():
            frame.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dlnet.data.prepare``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dlnet.data.prepare", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, default=None, help="a data variant's file: conf/data/<name>.yaml")
    source.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default: {DEFAULT_OUT}/<variant>)")
    args = parser.parse_args(argv)

    def stage() -> None:
        if args.data is not None:
            root, params = Path("."), data_params(load_group_file(args.data, "data"), source=args.data)
        else:
            root, params = args.params.parent, data_params(load_params(args.params), source=args.params)
        parts, meta = prepare(params, root)
        out = args.out if args.out is not None else root / prepared_dir(params.variant)
        write_parts(out, parts, meta)
        sizes = ", ".join(f"{name} {meta['rows'][name]}" for name in PARTS)
        print(
            f"prepare: {params.name} ({meta['rows_read']} rows read, {meta['rows_dropped']} dropped) -> {out}: {sizes}"
        )

    return run_stage(stage)


if __name__ == "__main__":
    raise SystemExit(main())
