"""Section 6, scaling out: MLflow write throughput of the SQLite file against the PostgreSQL-backed
tracking server (`make server`), with 1, 2 and 4 writers at once.

Each writer is a process that records `runs` runs the way a dlnet job does (dlnet.tracking: one
run, its params in one batch, a 2-metric history of `epochs` points in batches of 1,000, the final
metrics, the run ended), every writer released at the same instant. Throughput is counted over
the wall time from that instant to the last writer's end: points per second (history points)
and runs per second. The store and the experiment exist beforehand (untimed), as in a sweep.
The 1,000-run projection (in the report) combines these with section 4's per-run costs.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

REAL = {"writers": (1, 2, 4), "runs": 6, "epochs": 500, "params": 30, "stores": ("sqlite", "postgres")}
SMOKE = {"writers": (1,), "runs": 2, "epochs": 10, "params": 5, "stores": ("sqlite",)}


def _write(uri: str, experiment_id: str, runs: int, epochs: int, params: int, release_at: float) -> tuple[float, float]:
    """One writer: `runs` runs like a job's, starting at `release_at`; (start, end) wall clock."""
    from dlnet import tracking

    while time.time() < release_at:
        time.sleep(0.005)
    start = time.time()
    for index in range(runs):
        with tracking.run(uri, experiment_id, f"writer run {index}") as logger:
            logger.log_params({f"group.key{p}": p for p in range(params)})
            for epoch in range(1, epochs + 1):
                logger.add_points(epoch, {"train/loss": 1.0 / epoch, "val/loss": 1.1 / epoch})
            logger.flush()
            logger.log_metrics({"val/accuracy": 0.9, "test/accuracy": 0.9}, step=epochs)
    return start, time.time()


def _measure(uri: str, writers: int, settings: dict[str, Any]) -> dict[str, Any]:
    from dlnet import tracking

    experiment_id = tracking.ensure_experiment(uri, f"throughput-{writers}-{time.time_ns()}")
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        release_at = time.time() + 3.0 + 2.0 * writers  # every writer has imported MLflow by then
        spans = pool.starmap(
            _write,
            [(uri, experiment_id, settings["runs"], settings["epochs"], settings["params"], release_at)] * writers,
        )
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    runs = writers * settings["runs"]
    points = runs * settings["epochs"] * 2
    return {
        "writers": writers,
        "wall_s": wall,
        "runs": runs,
        "points": points,
        "points_per_s": points / wall,
        "runs_per_s": runs / wall,
    }


def run(workspace, smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    out: dict[str, Any] = {"settings": settings}
    for store in settings["stores"]:
        if store == "sqlite":
            folder = workspace.path / "throughput-sqlite"
            folder.mkdir()
            uri = f"sqlite:///{folder / 'mlflow.db'}"
            out[store] = [_measure(uri, n, settings) for n in settings["writers"]]
        else:
            from dlnet.server import TrackingServer

            folder = Path(tempfile.mkdtemp(prefix="dlnet-bench-server-"))
            folder.chmod(0o755)  # PostgreSQL's own user must reach it
            try:
                with TrackingServer(folder, port=0) as server:
                    out[store] = [_measure(server.url, n, settings) for n in settings["writers"]]
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return out
