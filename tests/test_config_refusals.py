"""Real `dlnet-train` runs with values that once passed the checks and failed inside a run.

Each must stop before any run or sweep starts: exit code 2, one line naming the key, no
traceback, nothing in the MLflow store, no job folder.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import run_tool, sqlite_uri


def runs_in(store: Path) -> int:
    """How many MLflow runs the SQLite store holds (0 when it was never created)."""
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master where type='table'")}
        return db.execute("select count(*) from runs").fetchone()[0] if "runs" in tables else 0


def assert_refused(done, key: str, store: Path) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"{key}=" in lines[0], done.stderr
    assert runs_in(store) == 0


@pytest.mark.parametrize(
    "overrides, key, says",
    [
        (["train.seed=-1"], "train.seed", "expected an integer from 0"),
        (["batch=mini", "batch.size=100000"], "batch.size", "the training data has"),
        (["train.divergence_factor=nan"], "train.divergence_factor", "expected a number above 1"),
        # W1, Z1, A1, dZ1 of (1e8, 9) and (1e8, 409): about 2 TiB
        (["model.hidden_units=100000000"], "model.hidden_units", "GiB available"),
        # 1e11 recorded epochs of losses
        (["train.epochs=100000000000"], "train.epochs", "GiB available"),
    ],
)
def test_a_bad_value_stops_the_run_before_it_starts(built_project, tmp_path, overrides, key, says):
    store = tmp_path / "mlflow.db"
    done = run_tool(
        ["dlnet-train", *overrides, f"tracking.uri={sqlite_uri(store)}", f"hydra.run.dir={tmp_path / 'run'}"],
        built_project,
        timeout=120,
    )
    assert_refused(done, key, store)
    assert says in done.stderr


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["train.seed=1,-1"], "train.seed"),  # a value check
        (["batch=mini", "batch.size=32,100000"], "batch.size"),  # a check against the data
    ],
)
def test_a_sweep_with_one_bad_job_starts_no_job(built_project, tmp_path, overrides, key):
    store, sweep_dir = tmp_path / "mlflow.db", tmp_path / "sweep"
    done = run_tool(
        [
            "dlnet-train",
            "-m",
            *overrides,
            "train.epochs=2",
            f"tracking.uri={sqlite_uri(store)}",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        built_project,
        timeout=120,
    )
    assert_refused(done, key, store)
    assert not (sweep_dir / "0").exists() and not (sweep_dir / "1").exists()
