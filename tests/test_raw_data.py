"""The committed raw file is the original UCI file, and the reader sees it as documented."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dlnet.data.original import FEATURES, read_original

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw" / "breast-cancer-wisconsin.data"
SHA256 = "402c585309c399237740f635ef9919dc512cca12cbeb20de5e563a4593f22b64"


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    return [line.split(",") for line in RAW.read_text(encoding="ascii").splitlines()]


def test_size_and_digest():
    data = RAW.read_bytes()
    assert len(data) == 19_889
    assert hashlib.sha256(data).hexdigest() == SHA256
    assert data.endswith(b"\n") and b"\r" not in data


def test_shape(rows):
    assert len(rows) == 699
    assert {len(row) for row in rows} == {11}


def test_missing_values_only_in_bare_nuclei(rows):
    where = [(i, j) for i, row in enumerate(rows) for j, value in enumerate(row) if value == "?"]
    assert len(where) == 16
    assert {j + 1 for _, j in where} == {7}  # column 7, Bare Nuclei


def test_classes(rows):
    assert Counter(row[10] for row in rows) == {"2": 458, "4": 241}
    complete = [row for row in rows if "?" not in row]
    assert len(complete) == 683
    assert Counter(row[10] for row in complete) == {"2": 444, "4": 239}


def test_repeated_ids_and_rows(rows):
    ids = Counter(row[0] for row in rows)
    assert sum(1 for count in ids.values() if count > 1) == 46
    assert len(rows) - len({tuple(row) for row in rows}) == 8


def test_features_in_range(rows):
    values = {value for row in rows for value in row[1:10]}
    assert values == {str(v) for v in range(1, 11)} | {"?"}


def test_reader_matches_the_facts():
    table = read_original(RAW)
    assert list(table.columns) == ["id", *FEATURES, "label"]
    assert len(table) == 699
    assert table[FEATURES].isna().sum().to_dict() == {f: (16 if f == "bare_nuclei" else 0) for f in FEATURES}
    assert table["label"].value_counts().to_dict() == {0: 458, 1: 241}
    assert table["id"].dtype == np.int64 and table["id"].iloc[0] == 1000025


def _load_script():
    spec = importlib.util.spec_from_file_location("make_raw_data", ROOT / "scripts" / "make_raw_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_raw_data_converts_biopsy_rows(tmp_path):
    """The conversion of MASS::biopsy's CSV export, on its first rows and a missing value."""
    script = _load_script()
    lines = RAW.read_text(encoding="ascii").splitlines()
    header = '"","ID","V1","V2","V3","V4","V5","V6","V7","V8","V9","class"\n'
    biopsy = header
    for number, line in enumerate(lines[:30], start=1):
        *values, code = line.split(",")
        sample_id, features = values[0], ["NA" if v == "?" else v for v in values[1:]]
        label = {"2": "benign", "4": "malignant"}[code]
        biopsy += f'"{number}","{sample_id}",{",".join(features)},"{label}"\n'
    assert "NA" in biopsy  # row 24 of the file has a '?'
    source = tmp_path / "biopsy.csv"
    source.write_text(biopsy, encoding="utf-8")
    assert script.convert(script.read_biopsy_csv(source)) == ("\n".join(lines[:30]) + "\n").encode()

    # a source that does not give the known digest is refused, and nothing is written
    out = tmp_path / "out.data"
    assert script.main([str(source), "--out", str(out)]) == 1
    assert not out.exists()
    assert script.main([str(source), "--out", str(out), "--no-verify"]) == 0
    assert out.read_text().splitlines() == lines[:30]
