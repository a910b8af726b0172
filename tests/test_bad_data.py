"""Nothing is trained on bad data: broken or changed scaled files stop a run before MLflow sees it.

Each case breaks one file of a built project copy and runs the real `dlnet-train`: exit 2,
one `error: ...` naming the file (and line and column where there is one), no traceback,
and no run in the store.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import BIN, run_tool, sqlite_uri

from dlnet.data.dataset import DataChangedError, file_digests

TRAIN = str(BIN / "dlnet-train")
VARIANT = Path("data/scaled/original-standard")  # the default config's data
# the columns of the original file's parts: id, 9 features, label
FEATURE_1, LABEL = 2, 11


@pytest.fixture
def project(built_project, tmp_path) -> Path:
    """A copy of the built project (the session's copy stays untouched)."""
    return Path(
        shutil.copytree(
            built_project,
            tmp_path / "project",
            ignore=shutil.ignore_patterns("outputs", "multirun", "mlflow.db", "mlartifacts"),
        )
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def set_cell(path: Path, line: int, column: int, value: str) -> None:
    rows = lines(path)
    cells = rows[line - 1].rstrip("\n").split(",")
    cells[column - 1] = value
    rows[line - 1] = ",".join(cells) + "\n"
    path.write_text("".join(rows))


def restamp(folder: Path) -> None:
    """Record the files' digests in meta.json as the stage would: the content checks alone must refuse them."""
    meta = json.loads((folder / "meta.json").read_text())
    meta["sha256"] = file_digests(folder)
    (folder / "meta.json").write_text(json.dumps(meta))


def runs_in(db: Path) -> int:
    """The number of runs in a SQLite MLflow store (0 when it was never created)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
        return connection.execute("select count(*) from runs").fetchone()[0] if "runs" in tables else 0


def keep_rows(path: Path, keep) -> None:
    rows = lines(path)
    path.write_text(rows[0] + "".join(row for row in rows[1:] if keep(row)))


# (what is broken, how, the words the error must say); every file is restamped unless said otherwise
CONTENT_CASES = {
    "nan": (
        lambda f: set_cell(f / "train.csv", 5, FEATURE_1, "nan"),
        ["train.csv, line 5, column 2 (clump_thickness)", "not a finite number"],
    ),
    "inf": (
        lambda f: set_cell(f / "val.csv", 3, 4, "-inf"),
        ["val.csv, line 3, column 4 (uniformity_of_cell_shape)", "not a finite number"],
    ),
    "non-numeric": (
        lambda f: set_cell(f / "test.csv", 7, 3, "abc"),
        ["test.csv, line 7, column 3 (uniformity_of_cell_size)", "'abc', not a number"],
    ),
    "empty file": (lambda f: (f / "val.csv").write_text(""), ["val.csv: the file is empty"]),
    "header only": (lambda f: keep_rows(f / "train.csv", lambda row: False), ["train.csv: no rows (a header only)"]),
    "one row": (
        lambda f: (f / "train.csv").write_text("".join(lines(f / "train.csv")[:2])),
        ["train.csv: 1 row", "at least 2 rows"],
    ),
    "truncated": (
        lambda f: (f / "train.csv").write_text("".join(lines(f / "train.csv")[:40]) + "1234567,0.5,0.25,"),
        ["train.csv, line 41: 4 cells; expected 11", "truncated"],
    ),
    "float label": (
        lambda f: set_cell(f / "train.csv", 2, LABEL, "0.4"),
        ["train.csv, line 2, column 11 (label): '0.4'; expected 0 or 1"],
    ),
    "one class": (
        lambda f: keep_rows(f / "train.csv", lambda row: row.rstrip().endswith(",0")),
        ["train.csv, column 11 (label): all 266 rows are 0 (benign)", "both classes"],
    ),
    "absurd magnitude": (
        lambda f: set_cell(f / "test.csv", 4, FEATURE_1, "1e300"),
        ["test.csv, line 4, column 2 (clump_thickness)", "1e+300 is not a scaled value"],
    ),
    "meta.json not JSON": (
        lambda f: (f / "meta.json").write_text('{"variant": "original-standard",'),
        ["meta.json, line 1, column 33: not valid JSON"],
    ),
    "meta.json without features": (
        lambda f: (f / "meta.json").write_text(
            json.dumps({k: v for k, v in json.loads((f / "meta.json").read_text()).items() if k != "features"})
        ),
        ["meta.json: key features missing"],
    ),
}


def check_refused(done, db: Path, expected: list[str]) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    for words in expected:
        assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert runs_in(db) == 0


@pytest.mark.parametrize("case", CONTENT_CASES)
def test_bad_scaled_data_is_refused_before_any_run(project, tmp_path, case):
    folder = project / VARIANT
    breaks, expected = CONTENT_CASES[case]
    breaks(folder)
    if not case.startswith("meta.json"):
        restamp(folder)
    db = tmp_path / "mlflow.db"
    done = run_tool([TRAIN, "train.epochs=3", f"tracking.uri={sqlite_uri(db)}"], project)
    check_refused(done, db, [f"{VARIANT}/{expected[0]}", *expected[1:]])
    assert "`dvc repro scale@original-standard`" in done.stderr


def swap_two_values(path: Path) -> None:
    rows = lines(path)
    cells = rows[3].rstrip("\n").split(",")
    cells[2], cells[3] = cells[3], cells[2]
    assert cells[2] != cells[3]
    rows[3] = ",".join(cells) + "\n"
    path.write_text("".join(rows))


@pytest.mark.parametrize(
    "case, breaks, file",
    [
        (
            "cut at a line boundary",
            lambda f: (f / "train.csv").write_text("".join(lines(f / "train.csv")[:200])),
            "train.csv",
        ),
        ("swapped values", lambda f: swap_two_values(f / "val.csv"), "val.csv"),
        ("an edited cell", lambda f: set_cell(f / "test.csv", 10, FEATURE_1, "0.5"), "test.csv"),
        (
            "another scaler",
            lambda f: (f / "scaler.json").write_text((f / "scaler.json").read_text().replace("1", "2")),
            "scaler.json",
        ),
    ],
)
def test_a_file_changed_after_the_scale_stage_is_refused(project, tmp_path, case, breaks, file):
    breaks(project / VARIANT)
    db = tmp_path / "mlflow.db"
    done = run_tool([TRAIN, "train.epochs=3", f"tracking.uri={sqlite_uri(db)}"], project)
    check_refused(
        done,
        db,
        [
            f"{VARIANT / file} changed after the `scale` stage wrote it",
            "rebuild it: `dvc repro scale@original-standard`",
        ],
    )


def test_a_sweep_on_bad_data_starts_nothing(project, tmp_path):
    set_cell(project / VARIANT / "train.csv", 5, FEATURE_1, "nan")
    db = tmp_path / "mlflow.db"
    done = run_tool(
        [
            TRAIN,
            "-m",
            "optim.lr=0.1,0.3",
            "train.epochs=3",
            f"tracking.uri={sqlite_uri(db)}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        project,
    )
    check_refused(done, db, ["job optim.lr=0.1", f"{VARIANT / 'train.csv'}, line 5, column 2"])


def test_the_dvc_train_stage_on_bad_data_starts_nothing(project, tmp_path):
    set_cell(project / VARIANT / "val.csv", 2, LABEL, "0.4")
    restamp(project / VARIANT)
    db = tmp_path / "mlflow.db"
    done = run_tool([sys.executable, "-m", "dlnet.train"], project, MLFLOW_TRACKING_URI=sqlite_uri(db))
    assert done.returncode == 2, done.stderr
    assert f"{VARIANT / 'val.csv'}, line 2, column 11 (label): '0.4'; expected 0 or 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert runs_in(db) == 0 and runs_in(project / "mlflow.db") == 0


def test_data_built_for_one_run_is_checked_too(project, tmp_path):
    import yaml

    from dlnet.job import run_job
    from dlnet.train import build_for_this_run

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["split_seed"] = 3  # no variant holds it: the train stage builds it for the run
    folder = build_for_this_run(project, params, tmp_path)
    swap_two_values(folder / "train.csv")
    db = tmp_path / "mlflow.db"
    params["tracking"]["uri"] = sqlite_uri(db)
    with pytest.raises(DataChangedError, match="train.csv changed after the `scale` stage"):
        run_job(params, root=project, source="test", data_folder=folder)
    assert runs_in(db) == 0


def test_the_logged_scaler_is_the_one_trained_with_even_if_the_data_is_rebuilt_mid_run(project, tmp_path):
    from mlflow.tracking import MlflowClient

    from dlnet.data import scale as scale_stage
    from dlnet.job import run_job
    from dlnet.params import compose_defaults

    folder = project / VARIANT
    trained_with = (folder / "scaler.json").read_bytes()
    uri = sqlite_uri(tmp_path / "mlflow.db")
    params = compose_defaults(project / "conf", ["train.epochs=3", f"tracking.uri={uri}"])

    def rebuild_with_minmax(point) -> None:
        if point[0] == 1:  # after the first epoch: `dvc repro` rebuilds the folder with another method
            assert (
                scale_stage.main(
                    [
                        "--scale",
                        str(project / "conf/scale/minmax.yaml"),
                        "--in",
                        str(project / "data/prepared/original"),
                        "--out",
                        str(folder),
                    ]
                )
                == 0
            )

    result = run_job(params, root=project, source="test", on_history=rebuild_with_minmax)
    rebuilt = (folder / "scaler.json").read_bytes()
    assert json.loads(rebuilt)["method"] == "minmax" != json.loads(trained_with)["method"]
    logged = Path(MlflowClient(uri).download_artifacts(result.run_id, "scaler.json", str(tmp_path)))
    assert logged.read_bytes() == trained_with
