"""Section 6, search: a TPE study with pruning against the 27-run grid of `make sweep`.

    dlnet-train -m optim.lr=0.01,0.07,0.3 model.hidden_units=4,15,64 batch=full,mini,stochastic train.epochs=N
    dlnet-train +search=tpe hydra.sweeper.n_trials=T hydra.sweeper.sampler.seed=S train.epochs=N

run for real in a built project copy, each with a fresh SQLite store (and a fresh Optuna study).
The grid's best validation loss (its runs' last `val/loss`) is the bar. For each study seed, the
trials are taken in order and their training times (`time/train_seconds`, pruned trials and
their reporting to the study included) added up until the first trial that finishes at or under
the bar: that sum against the grid's whole sum of training times. Then model quality on WDBC:
a study on the WDBC data, and its best configuration trained with 5 seeds against the default's.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.project import Workspace, helpers, run_tool, sqlite_uri, tool

GRID = ["optim.lr=0.01,0.07,0.3", "model.hidden_units=4,15,64", "batch=full,mini,stochastic"]
REAL = {
    "grid": GRID,
    "epochs": 500,
    "trials": 40,
    "seeds": [0, 1, 2, 3, 4],
    "wdbc_trials": 40,
    "training_seeds": [1, 2, 3, 4, 5],
}
SMOKE = {
    "grid": ["optim.lr=0.07,0.3", "model.hidden_units=15", "batch=full"],
    "epochs": 3,
    "trials": 2,
    "seeds": [0],
    "wdbc_trials": 2,
    "training_seeds": [1],
}
GOAL = 0.40  # the study's training time to match the grid, as a share of the grid's


def _runs(uri: str) -> list[dict[str, Any]]:
    """Every child run: trial number, training seconds, last validation loss, pruned, test accuracy."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dlnet")
    found = client.search_runs([experiment.experiment_id], max_results=5000)
    out = []
    for run in found:
        if "mlflow.parentRunId" not in run.data.tags:
            continue
        history = client.get_metric_history(run.info.run_id, "val/loss")
        out.append(
            {
                "trial": int(run.data.tags["dlnet.trial"]) if "dlnet.trial" in run.data.tags else None,
                "train_s": run.data.metrics.get("time/train_seconds", math.nan),
                "val_loss": max((m.step, m.value) for m in history)[1] if history else math.nan,
                "pruned": run.data.tags.get("dlnet.pruned") == "true",
                "status": run.info.status,
                "test_accuracy": run.data.metrics.get("test/accuracy", math.nan),
                "params": {
                    k: run.data.params.get(k) for k in ("optim.lr", "model.hidden_units", "batch.name", "batch.size")
                },
            }
        )
    return out


def _command(project: Path, folder: Path, args: list[str]) -> tuple[str, float]:
    folder.mkdir(parents=True)
    uri = sqlite_uri(folder / "mlflow.db")
    start = time.perf_counter()
    done = run_tool(
        [tool("dlnet-train"), "-m", *args, f"tracking.uri={uri}", f"hydra.sweep.dir={folder / 'multirun'}"],
        project,
        timeout=7200,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dlnet-train {' '.join(args)} exited {done.returncode}: {done.stderr[-600:]}")
    return uri, wall


def _study(project: Path, folder: Path, seed: int, trials: int, epochs: int, extra: list[str]) -> dict[str, Any]:
    args = [
        "+search=tpe",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.sampler.seed={seed}",
        f"hydra.sweeper.storage={sqlite_uri(folder / 'optuna.db')}",
        f"train.epochs={epochs}",
        *extra,
    ]
    uri, wall = _command(project, folder, args)
    runs = sorted(_runs(uri), key=lambda r: r["trial"])
    return {"seed": seed, "wall_s": wall, "trials": runs, "storage": sqlite_uri(folder / "optuna.db")}


def _time_to_reach(trials: list[dict[str, Any]], bar: float) -> tuple[float | None, int | None]:
    """Training seconds spent, in trial order, until a trial finishes with val loss <= bar."""
    spent = 0.0
    for trial in trials:
        spent += trial["train_s"]
        if not trial["pruned"] and trial["status"] == "FINISHED" and trial["val_loss"] <= bar:
            return spent, trial["trial"]
    return None, None


def _best_overrides(trials: list[dict[str, Any]]) -> list[str]:
    done = [t for t in trials if not t["pruned"] and t["status"] == "FINISHED" and math.isfinite(t["val_loss"])]
    best = min(done, key=lambda t: t["val_loss"])["params"]
    overrides = [
        f"optim.lr={best['optim.lr']}",
        f"model.hidden_units={best['model.hidden_units']}",
        f"batch={best['batch.name']}",
    ]
    if best["batch.name"] == "mini":
        overrides.append(f"batch.size={best['batch.size']}")
    return overrides


def _test_accuracy(project: Path, folder: Path, overrides: list[str], seeds: list[int], epochs: int) -> dict[str, Any]:
    uri, _ = _command(
        project, folder, [*overrides, f"train.seed={','.join(map(str, seeds))}", f"train.epochs={epochs}"]
    )
    accuracies = [r["test_accuracy"] for r in _runs(uri)]
    return {"overrides": overrides, "test_accuracy": accuracies, "mean": statistics.fmean(accuracies)}


def run(workspace: Workspace, smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    epochs = settings["epochs"]
    load_before = os.getloadavg()[0]  # the machine is shared: its load says how comparable the parts are
    project = workspace.built_project()
    uri, grid_wall = _command(project, workspace.path / "search-grid", [*settings["grid"], f"train.epochs={epochs}"])
    grid = _runs(uri)
    finished = [r for r in grid if r["status"] == "FINISHED" and math.isfinite(r["val_loss"])]
    bar = min(r["val_loss"] for r in finished)
    grid_train = sum(r["train_s"] for r in grid)

    studies = []
    for seed in settings["seeds"]:
        record = _study(project, workspace.path / f"search-study-{seed}", seed, settings["trials"], epochs, [])
        record["reach_s"], record["reach_trial"] = _time_to_reach(record["trials"], bar)
        record["train_sum_s"] = sum(t["train_s"] for t in record["trials"])
        record["pruned"] = sum(t["pruned"] for t in record["trials"])
        record["best_val_loss"] = min((t["val_loss"] for t in record["trials"] if not t["pruned"]), default=math.nan)
        studies.append(record)
    shares = [r["reach_s"] / grid_train if r["reach_s"] is not None else math.inf for r in studies]

    # Model quality on WDBC: a study there, then its best configuration against the default, 5 seeds each.
    wdbc = helpers().build_variants(
        helpers().copy_project(workspace.path / "search-wdbc-project"), ("wdbc",), ("standard",)
    )
    wdbc_study = _study(wdbc, workspace.path / "search-wdbc-study", 0, settings["wdbc_trials"], epochs, ["data=wdbc"])
    best = _best_overrides(wdbc_study["trials"])
    seeds = settings["training_seeds"]
    return {
        "settings": settings,
        "load_average": {"before": load_before, "after": os.getloadavg()[0], "cores": os.cpu_count()},
        "grid": {"wall_s": grid_wall, "train_sum_s": grid_train, "runs": len(grid), "best_val_loss": bar},
        "studies": studies,
        "share_median": statistics.median(shares),
        "shares": shares,
        "wdbc": {
            "study_wall_s": wdbc_study["wall_s"],
            "best": _test_accuracy(wdbc, workspace.path / "search-wdbc-best", ["data=wdbc", *best], seeds, epochs),
            "default": _test_accuracy(wdbc, workspace.path / "search-wdbc-default", ["data=wdbc"], seeds, epochs),
        },
    }
