"""The `prepare` stage: parsing, validation, missing values, labels and the splits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlnet.data import prepare as prepare_module
from dlnet.data.atomic import atomic_directory
from dlnet.data.original import FEATURES
from dlnet.data.params import DataParams, data_params
from dlnet.data.prepare import main, prepare
from dlnet.data.split import stratified_group_split

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw" / "breast-cancer-wisconsin.data"
RAW_REL = "data/raw/breast-cancer-wisconsin.data"
PARTS = ("train", "val", "test")
RAW_LINES = RAW.read_text(encoding="ascii").splitlines()


def default_data() -> dict:
    return yaml.safe_load((ROOT / "conf" / "data" / "original.yaml").read_text())


def make_project(root: Path, raw_text: str | bytes | None = None, **data_overrides) -> Path:
    """A project root holding params.yaml and (unless raw_text is None and the file is skipped) the raw file."""
    (root / "data" / "raw").mkdir(parents=True, exist_ok=True)
    raw = root / RAW_REL
    if raw_text is None:
        shutil.copyfile(RAW, raw)
    elif isinstance(raw_text, bytes):
        raw.write_bytes(raw_text)
    else:
        raw.write_text(raw_text, encoding="ascii", newline="")
    data = default_data() | data_overrides
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"data": data, "scale": {"method": "standard"}}))
    return params


def run(params: Path, capsys) -> tuple[int, str]:
    code = main(["--params", str(params)])
    return code, capsys.readouterr().err


def read_parts(root: Path) -> dict[str, pd.DataFrame]:
    return {part: pd.read_csv(root / "data" / "prepared" / "original" / f"{part}.csv") for part in PARTS}


def assert_no_output(root: Path) -> None:
    data_dir = root / "data" / "prepared"
    assert not (data_dir / "original").exists()
    leftovers = [p.name for p in data_dir.glob(".*")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def params_of(**overrides) -> DataParams:
    return data_params({"data": default_data() | overrides})


# --- the default: drop '?', stratified group split ------------------------------------------


@pytest.fixture(scope="module")
def dropped() -> tuple[dict[str, pd.DataFrame], dict]:
    return prepare(params_of(), ROOT)


def test_drop_keeps_683_rows(dropped):
    parts, meta = dropped
    assert sum(len(frame) for frame in parts.values()) == 683
    labels = pd.concat(parts.values())["label"]
    assert labels.value_counts().to_dict() == {0: 444, 1: 239}
    assert meta["rows_read"] == 699 and meta["rows_dropped"] == 16


def test_columns_and_types(dropped):
    parts, meta = dropped
    for frame in parts.values():
        assert list(frame.columns) == ["id", *FEATURES, "label"]
        assert all(frame[column].dtype == np.int64 for column in frame.columns)
        assert set(frame["label"]) == {0, 1}
        assert frame[FEATURES].isin(range(1, 11)).all().all()
    assert meta["features"] == FEATURES


def test_no_id_in_two_parts(dropped):
    parts, _ = dropped
    ids = {part: set(frame["id"]) for part, frame in parts.items()}
    assert not ids["train"] & ids["val"]
    assert not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]


def test_sizes_follow_the_fractions(dropped):
    parts, _ = dropped
    assert {part: len(frame) for part, frame in parts.items()} == {"train": 409, "val": 137, "test": 137}


def test_stratified_within_one_row(dropped):
    parts, _ = dropped
    ratio = 239 / 683
    for frame in parts.values():
        assert abs(frame["label"].sum() - ratio * len(frame)) <= 1


def test_same_seed_same_split_other_seed_other_split():
    first, _ = prepare(params_of(split_seed=7), ROOT)
    again, _ = prepare(params_of(split_seed=7), ROOT)
    other, _ = prepare(params_of(split_seed=8), ROOT)
    for part in PARTS:
        pd.testing.assert_frame_equal(first[part], again[part])
    assert set(first["val"]["id"]) != set(other["val"]["id"])
    assert set(first["test"]["id"]) != set(other["test"]["id"])


def test_other_fractions():
    parts, _ = prepare(params_of(val_fraction=0.1, test_fraction=0.3, split_seed=3), ROOT)
    sizes = {part: len(frame) for part, frame in parts.items()}
    assert sizes == {"train": 410, "val": 68, "test": 205}


def test_group_split_keeps_mixed_groups_together():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(120), rng.integers(1, 4, size=120))
    labels = (rng.random(len(groups)) < 0.4).astype(int)
    for seed in range(5):
        parts = stratified_group_split(labels, groups, 0.25, 0.25, seed)
        for group in np.unique(groups):
            assert len(set(parts[groups == group])) == 1
        for part in (0, 1, 2):
            assert set(labels[parts == part]) == {0, 1}


# --- median imputation ------------------------------------------------------------------------


def test_median_keeps_all_rows(tmp_path, capsys):
    params = make_project(tmp_path, missing="median")
    assert run(params, capsys)[0] == 0
    parts = read_parts(tmp_path)
    assert sum(len(frame) for frame in parts.values()) == 699
    assert pd.concat(parts.values())["label"].value_counts().to_dict() == {0: 458, 1: 241}
    for frame in parts.values():
        assert frame[FEATURES].notna().all().all()
    meta = json.loads((tmp_path / "data" / "prepared" / "original" / "meta.json").read_text())
    assert meta["rows_dropped"] == 0 and set(meta["imputed"]) == {"bare_nuclei"}


def _with_bare_nuclei(ids: set[int], value: int) -> str:
    """The raw file with Bare Nuclei set to `value` on the complete rows of `ids`."""
    lines = []
    for line in RAW_LINES:
        fields = line.split(",")
        if int(fields[0]) in ids and fields[6] != "?":
            fields[6] = str(value)
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def test_median_comes_from_the_train_part_only(tmp_path):
    parts, meta = prepare(params_of(missing="median"), ROOT)
    train_ids = set(parts["train"]["id"])
    other_ids = set(parts["val"]["id"]) | set(parts["test"]["id"])
    missing_ids = {int(line.split(",")[0]) for line in RAW_LINES if "?" in line}

    # the median of the train part's present values, imputed in every part
    table = pd.read_csv(RAW, header=None, na_values="?", names=["id", *FEATURES, "class"])
    present = table[table["id"].isin(train_ids) & table["bare_nuclei"].notna()]["bare_nuclei"]
    assert meta["imputed"]["bare_nuclei"] == present.median()

    # the split depends on ids and classes only, so features can be changed under it:
    # changing val/test values leaves the median alone ...
    make_project(tmp_path / "a", _with_bare_nuclei(other_ids, 10))
    _, meta_a = prepare(params_of(missing="median"), tmp_path / "a")
    assert meta_a["imputed"] == meta["imputed"]
    # ... changing the train values moves it, and the imputed cells follow in every part
    make_project(tmp_path / "b", _with_bare_nuclei(train_ids, 7))
    parts_b, meta_b = prepare(params_of(missing="median"), tmp_path / "b")
    assert meta_b["imputed"] == {"bare_nuclei": 7.0}
    imputed = 0
    for frame in parts_b.values():
        rows = frame[frame["id"].isin(missing_ids - train_ids)]
        assert (rows["bare_nuclei"] == 7).sum() >= 1 or rows.empty
        imputed += int((frame["bare_nuclei"] == 7).sum())
    assert imputed >= len(present) + 16


# --- the article's split --------------------------------------------------------------------


def test_article_split_sizes(tmp_path, capsys):
    params = make_project(tmp_path, split="article")
    assert run(params, capsys)[0] == 0
    parts = read_parts(tmp_path)
    assert {part: len(frame) for part, frame in parts.items()} == {"train": 500, "val": 182, "test": 0}
    header = (tmp_path / "data" / "prepared" / "original" / "test.csv").read_text()
    assert header == ",".join(["id", *FEATURES, "label"]) + "\n"

    complete = [line for line in RAW_LINES if "?" not in line]
    assert parts["train"]["id"].tolist() == [int(line.split(",")[0]) for line in complete[:500]]
    assert parts["val"]["id"].tolist() == [int(line.split(",")[0]) for line in complete[501:]]


# --- WDBC -----------------------------------------------------------------------------------


def test_wdbc(tmp_path):
    from sklearn.datasets import load_breast_cancer

    parts, meta = prepare(params_of(name="wdbc", raw=None), tmp_path)
    table = pd.concat(parts.values()).sort_values("id")
    bunch = load_breast_cancer()
    assert len(table) == 569 and table.shape[1] == 32
    assert list(table.columns[1:4]) == ["mean_radius", "mean_texture", "mean_perimeter"]
    assert "worst_fractal_dimension" in table.columns
    np.testing.assert_array_equal(table["label"].to_numpy(), 1 - bunch.target)
    np.testing.assert_array_equal(table["mean_radius"].to_numpy(), bunch.data[:, 0])
    assert (
        meta["class_counts"]["train"]["malignant"]
        + meta["class_counts"]["val"]["malignant"]
        + meta["class_counts"]["test"]["malignant"]
        == 212
    )
    assert len(meta["raw_sha256"]) == 64


# --- bad input: the raw file ----------------------------------------------------------------


def replace_line(number: int, text: str) -> str:
    lines = list(RAW_LINES)
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


BAD_RAW = {
    "empty file": ("", ["is empty"]),
    "blank file": ("\n\n", ["is empty"]),
    "wrong column count": (
        replace_line(3, "1015425,3,1,1,1,2,2,3,1,2"),
        ["line 3", "10 comma-separated values", "expected 11"],
    ),
    "too many columns": (replace_line(5, "1017023,4,1,1,3,2,1,3,1,1,2,7"), ["line 5", "12 comma-separated values"]),
    "non-numeric feature": (
        replace_line(4, "1016277,6,8,abc,1,3,4,3,7,1,2"),
        ["line 4", "column 4 (Uniformity of Cell Shape)", "'abc'", "integer from 1 to 10"],
    ),
    "decimal feature": (replace_line(2, "1002945,5.5,4,4,5,7,10,3,2,1,2"), ["line 2", "column 2 (Clump Thickness)"]),
    "feature above 10": (replace_line(10, "1033078,2,1,1,1,2,1,2,1,11,2"), ["line 10", "column 10 (Mitoses)", "'11'"]),
    "feature below 1": (replace_line(7, "1018099,1,1,1,1,2,0,3,1,1,2"), ["line 7", "column 7 (Bare Nuclei)", "'0'"]),
    "unknown class": (
        replace_line(6, "1017122,8,10,10,8,7,10,9,7,1,3"),
        ["line 6", "column 11 (Class)", "'3'", "2 (benign) or 4 (malignant)"],
    ),
    "missing class": (replace_line(8, "1018561,2,1,2,1,2,1,3,1,1,?"), ["line 8", "column 11 (Class)"]),
    "bad id": (replace_line(9, "x1033078,2,1,1,1,2,1,2,1,1,2"), ["line 9", "column 1 (Sample code number)"]),
    "blank line inside": (replace_line(12, ""), ["line 12", "empty line"]),
    "one class only": (
        "\n".join(line for line in RAW_LINES if line.endswith(",2")) + "\n",
        ["column 11 (Class)", "only class 2", "both 2 (benign) and 4 (malignant)"],
    ),
    "not utf-8": (b"1000025,5,1,1,1,2,1,3,1,1,2\n\xff\xfe,1\n", ["line 2", "not UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RAW))
def test_bad_raw_file(case, tmp_path, capsys):
    text, expected = BAD_RAW[case]
    params = make_project(tmp_path, text)
    code, err = run(params, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert RAW_REL in err
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert_no_output(tmp_path)


def test_missing_raw_file(tmp_path, capsys):
    params = make_project(tmp_path)
    (tmp_path / RAW_REL).unlink()
    code, err = run(params, capsys)
    assert code == 2
    assert RAW_REL in err and "not found" in err
    assert_no_output(tmp_path)


def test_windows_line_endings_are_accepted(tmp_path, capsys):
    crlf = make_project(tmp_path / "crlf", "\r\n".join(RAW_LINES) + "\r\n")
    lf = make_project(tmp_path / "lf")
    assert run(crlf, capsys)[0] == 0
    assert run(lf, capsys)[0] == 0
    for part in PARTS:
        a = (tmp_path / "crlf" / "data" / "prepared" / "original" / f"{part}.csv").read_bytes()
        b = (tmp_path / "lf" / "data" / "prepared" / "original" / f"{part}.csv").read_bytes()
        assert a == b


# --- bad input: params ----------------------------------------------------------------------


BAD_PARAMS = {
    "unknown missing": ({"missing": "foo"}, ["data.missing", "drop, median", "'foo'"]),
    "unknown split": ({"split": "random"}, ["data.split", "stratified, article"]),
    "unknown data set": ({"name": "iris"}, ["data.name", "original, wdbc"]),
    "val fraction zero": ({"val_fraction": 0}, ["data.val_fraction", "between 0 and 1"]),
    "test fraction one": ({"test_fraction": 1.0}, ["data.test_fraction", "between 0 and 1"]),
    "negative fraction": ({"val_fraction": -0.2}, ["data.val_fraction"]),
    "fraction not a number": ({"test_fraction": "0.2"}, ["data.test_fraction"]),
    "fractions sum to one": (
        {"val_fraction": 0.5, "test_fraction": 0.5},
        ["data.val_fraction + data.test_fraction", "below 1"],
    ),
    "negative seed": ({"split_seed": -1}, ["data.split_seed"]),
    "seed not an integer": ({"split_seed": 1.5}, ["data.split_seed"]),
    "no raw path": ({"raw": None}, ["data.raw"]),
    "article for wdbc": ({"name": "wdbc", "raw": None, "split": "article"}, ["data.split=article", "wdbc"]),
    "article with median": ({"split": "article", "missing": "median"}, ["data.split=article", "data.missing=drop"]),
    "test part too small": ({"test_fraction": 0.001}, ["data.test_fraction=0.001", "test part", "both classes"]),
    "val part too small": ({"val_fraction": 0.002}, ["data.val_fraction=0.002", "val part", "both classes"]),
    "train part too small": ({"val_fraction": 0.5, "test_fraction": 0.499}, ["train part", "both classes"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_params(case, tmp_path, capsys):
    overrides, expected = BAD_PARAMS[case]
    params = make_project(tmp_path, **overrides)
    code, err = run(params, capsys)
    assert code == 2
    assert err.startswith("error: ")
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert_no_output(tmp_path)


def test_missing_params_file_and_section(tmp_path, capsys):
    code, err = run(tmp_path / "params.yaml", capsys)
    assert code == 2 and "params.yaml" in err and "not found" in err
    (tmp_path / "params.yaml").write_text("scale:\n  method: standard\n")
    code, err = run(tmp_path / "params.yaml", capsys)
    assert code == 2 and "`data` section missing" in err
    (tmp_path / "params.yaml").write_text("data:\n  name: original\n")
    code, err = run(tmp_path / "params.yaml", capsys)
    assert code == 2 and "data.raw" in err


def test_article_split_needs_502_rows(tmp_path, capsys):
    params = make_project(tmp_path, "\n".join(RAW_LINES[:400]) + "\n", split="article")
    code, err = run(params, capsys)
    assert code == 2 and "data.split=article" in err and "has 386 rows" in err  # 400 - 14 with '?'
    assert_no_output(tmp_path)


def test_too_few_rows_of_a_class_for_three_parts(tmp_path, capsys):
    lines = [line for line in RAW_LINES if line.endswith(",2")][:50] + [
        line for line in RAW_LINES if line.endswith(",4")
    ][:2]
    params = make_project(tmp_path, "\n".join(lines) + "\n")
    code, err = run(params, capsys)
    assert code == 2 and "malignant" in err and "both classes" in err
    assert_no_output(tmp_path)


# --- atomic output --------------------------------------------------------------------------


def test_failure_keeps_the_previous_output(tmp_path, capsys):
    params = make_project(tmp_path)
    assert run(params, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "data" / "prepared" / "original").iterdir()}
    make_project(tmp_path, replace_line(3, "1015425,3,1,1,1,2,2,3,1,1,9"))
    assert run(params, capsys)[0] == 2
    after = {p.name: p.read_bytes() for p in (tmp_path / "data" / "prepared" / "original").iterdir()}
    assert after == before
    assert not [p for p in (tmp_path / "data" / "prepared").iterdir() if p.name.startswith(".")]


def test_crash_while_writing_leaves_nothing(tmp_path, monkeypatch):
    params = make_project(tmp_path)
    calls = []
    original_to_csv = pd.DataFrame.to_csv

    def failing_to_csv(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError("disk full")
        return original_to_csv(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    with pytest.raises(OSError, match="disk full"):
        main(["--params", str(params)])
    assert_no_output(tmp_path)


def test_atomic_directory_replaces_whole(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "b.txt").write_text("1")
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert (target / "a.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    params = make_project(tmp_path, replace_line(3, "1015425,3,1,1,1,2,2,3,1,1"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "dlnet.data.prepare", "--params", str(params)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {RAW_REL}, line 3:")
    assert "Traceback" not in result.stderr
    assert_no_output(tmp_path)
    assert prepare_module.DEFAULT_OUT == Path("data/prepared")
