"""The `scale` stage (fit on train only) and the training loader `load_scaled`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlnet.data import DataNotBuiltError, Split, load_scaled
from dlnet.data import prepare as prepare_stage
from dlnet.data import scale as scale_stage
from dlnet.data.original import FEATURES
from dlnet.data.scale import Scaler

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw" / "breast-cancer-wisconsin.data"
RAW_REL = "data/raw/breast-cancer-wisconsin.data"
PARTS = ("train", "val", "test")


def make_project(root: Path, method: str = "standard", **data_overrides) -> Path:
    (root / "data" / "raw").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RAW, root / RAW_REL)
    data = yaml.safe_load((ROOT / "conf" / "data" / "original.yaml").read_text()) | data_overrides
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"data": data, "scale": {"method": method}}))
    return params


def set_method(params: Path, method: str) -> None:
    content = yaml.safe_load(params.read_text())
    content["scale"]["method"] = method
    params.write_text(yaml.safe_dump(content))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project with data/prepared built from the committed raw file (default params)."""
    root = tmp_path_factory.mktemp("project")
    params = make_project(root)
    assert prepare_stage.main(["--params", str(params)]) == 0
    return root


def scaled_copy(project: Path, tmp_path: Path, method: str) -> Path:
    """Run scale with `method` on a copy of the project; return the copy."""
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    set_method(root / "params.yaml", method)
    assert scale_stage.main(["--params", str(root / "params.yaml")]) == 0
    return root


def scaled_folder(root: Path) -> Path:
    """The one data/scaled/<variant>-<method> folder of a project copy."""
    (folder,) = (root / "data" / "scaled").iterdir()
    return folder


def read(root: Path, folder: str, part: str) -> pd.DataFrame:
    where = root / "data" / "prepared" / "original" if folder == "prepared" else scaled_folder(root)
    return pd.read_csv(where / f"{part}.csv")


def test_standard_train_columns_have_mean_0_std_1(project, tmp_path):
    root = scaled_copy(project, tmp_path, "standard")
    train = read(root, "scaled", "train")[FEATURES].to_numpy()
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(train.std(axis=0, ddof=0), 1, rtol=1e-12)


def test_minmax_train_columns_span_0_1(project, tmp_path):
    root = scaled_copy(project, tmp_path, "minmax")
    train = read(root, "scaled", "train")[FEATURES].to_numpy()
    np.testing.assert_allclose(train.min(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(train.max(axis=0), 1, rtol=1e-15)


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_val_and_test_use_the_train_statistics(project, tmp_path, method):
    root = scaled_copy(project, tmp_path, method)
    train = read(project, "prepared", "train")[FEATURES].to_numpy(dtype=float)
    if method == "standard":
        shift, divisor = train.mean(axis=0), train.std(axis=0)
    else:
        shift, divisor = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    for part in PARTS:
        raw = read(project, "prepared", part)
        scaled = read(root, "scaled", part)
        np.testing.assert_allclose(scaled[FEATURES].to_numpy(), (raw[FEATURES].to_numpy() - shift) / divisor)
        assert scaled["id"].tolist() == raw["id"].tolist()
        assert scaled["label"].tolist() == raw["label"].tolist()


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_changing_val_and_test_does_not_change_the_scaler(project, tmp_path, method):
    before = scaled_copy(project, tmp_path / "before", method)
    after = tmp_path / "after"
    shutil.copytree(project, after)
    for part in ("val", "test"):
        path = after / "data" / "prepared" / "original" / f"{part}.csv"
        frame = pd.read_csv(path)
        frame[FEATURES] = frame[FEATURES] * 3 + 100  # far outside the train range
        frame.to_csv(path, index=False)
    set_method(after / "params.yaml", method)
    assert scale_stage.main(["--params", str(after / "params.yaml")]) == 0
    scaler = lambda root: (scaled_folder(root) / "scaler.json").read_text()  # noqa: E731
    assert scaler(after) == scaler(before)
    assert read(after, "scaled", "train").equals(read(before, "scaled", "train"))
    assert not read(after, "scaled", "val").equals(read(before, "scaled", "val"))


def test_scaler_json(project, tmp_path):
    root = scaled_copy(project, tmp_path, "standard")
    saved = json.loads((scaled_folder(root) / "scaler.json").read_text())
    train = read(project, "prepared", "train")
    assert saved["method"] == "standard" and saved["features"] == FEATURES
    for feature in FEATURES:
        assert saved["params"][feature]["mean"] == pytest.approx(train[feature].mean())
        assert saved["params"][feature]["std"] == pytest.approx(train[feature].std(ddof=0))
    # the file alone reproduces the transform
    scaler = Scaler.from_dict(saved)
    val = read(project, "prepared", "val")[FEATURES].to_numpy(dtype=float)
    np.testing.assert_array_equal(scaler.transform(val), read(root, "scaled", "val")[FEATURES].to_numpy())


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_constant_feature_is_not_divided_by_zero(method):
    X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    scaler = Scaler.fit(method, X, ["a", "b"])
    out = scaler.transform(np.array([[2.0, 5.0], [2.0, 6.0]]))
    assert np.isfinite(out).all()
    assert out[0, 1] == 0 and out[1, 1] == 1  # shifted, divided by 1


def test_meta(project, tmp_path):
    root = scaled_copy(project, tmp_path, "minmax")
    meta = json.loads((scaled_folder(root) / "meta.json").read_text())
    assert meta["dataset"] == "original"
    assert meta["missing"] == "drop" and meta["split"] == "stratified"
    assert meta["val_fraction"] == 0.2 and meta["test_fraction"] == 0.2 and meta["split_seed"] == 0
    assert meta["scale"] == "minmax"
    assert meta["raw_sha256"] == hashlib.sha256(RAW.read_bytes()).hexdigest()
    assert meta["rows"] == {"train": 409, "val": 137, "test": 137}
    assert meta["class_counts"]["train"] == {"benign": 266, "malignant": 143}
    assert sum(counts["malignant"] for counts in meta["class_counts"].values()) == 239
    assert meta["features"] == FEATURES
    # every file it wrote, by its SHA-256: what a run checks its data against
    folder = scaled_folder(root)
    assert meta["sha256"] == {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("train.csv", "val.csv", "test.csv", "scaler.json")
    }


def test_load_scaled(project, tmp_path):
    root = scaled_copy(project, tmp_path, "standard")
    splits, meta = load_scaled(scaled_folder(root))
    assert set(splits) == set(PARTS)
    for part, split in splits.items():
        assert isinstance(split, Split)
        m = meta["rows"][part]
        assert split.X.shape == (9, m) and split.X.dtype == np.float64
        assert split.Y.shape == (1, m) and set(np.unique(split.Y)) == {0, 1}
        assert split.ids.shape == (m,)
        assert split.feature_names == FEATURES
        assert split.Y.sum() == meta["class_counts"][part]["malignant"]
    frame = read(root, "scaled", "val")
    np.testing.assert_array_equal(splits["val"].X[:, 0], frame.loc[0, FEATURES].to_numpy(dtype=float))


def test_load_scaled_with_an_empty_test_part(tmp_path):
    params = make_project(tmp_path, "minmax", split="article")
    assert prepare_stage.main(["--params", str(params)]) == 0
    assert scale_stage.main(["--params", str(params)]) == 0
    splits, meta = load_scaled(tmp_path / "data" / "scaled" / "original-minmax")
    assert splits["train"].X.shape == (9, 500)
    assert splits["val"].X.shape == (9, 182)
    assert splits["test"].X.shape == (9, 0) and splits["test"].Y.shape == (1, 0)
    assert meta["split"] == "article" and meta["rows"]["test"] == 0


def test_load_scaled_before_dvc_repro(tmp_path):
    with pytest.raises(DataNotBuiltError, match="run `dvc repro`"):
        load_scaled(tmp_path / "data" / "scaled")
    with pytest.raises(FileNotFoundError):
        load_scaled(tmp_path)


# --- bad input ------------------------------------------------------------------------------


def test_scale_without_prepared_data(tmp_path, capsys):
    params = make_project(tmp_path)
    assert scale_stage.main(["--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "data/prepared" in err and "run `dvc repro`" in err
    assert not (tmp_path / "data" / "scaled").exists()


def test_unknown_scale_method(project, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    set_method(root / "params.yaml", "robust")
    assert scale_stage.main(["--params", str(root / "params.yaml")]) == 2
    err = capsys.readouterr().err
    assert "scale.method" in err and "standard, minmax" in err and "'robust'" in err
    assert not (root / "data" / "scaled").exists()
    assert not [p for p in (root / "data" / "scaled").glob(".*")]


def test_missing_scale_section(project, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    content = yaml.safe_load((root / "params.yaml").read_text())
    del content["scale"]
    (root / "params.yaml").write_text(yaml.safe_dump(content))
    assert scale_stage.main(["--params", str(root / "params.yaml")]) == 2
    assert "`scale` section missing" in capsys.readouterr().err
    assert not (root / "data" / "scaled").exists()


def test_prepared_columns_disagree_with_meta(project, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    path = root / "data" / "prepared" / "original" / "val.csv"
    pd.read_csv(path).drop(columns=["mitoses"]).to_csv(path, index=False)
    assert scale_stage.main(["--params", str(root / "params.yaml")]) == 2
    err = capsys.readouterr().err
    assert "val.csv" in err and "columns" in err
    assert not (root / "data" / "scaled").exists()
