"""Section 2, scaling: time per epoch and peak memory as rows and hidden units grow.

Synthetic data with 30 features, full batch, one BLAS thread (so that growth is not mixed up with
threading). dlnet and the bare NumPy floor take turns at each size; the time per epoch is the
marginal cost between a short and a long run (`measure.interleave_marginal`), so that a run's
one-off cost of allocating its arrays is not counted as epochs. Peak memory is measured in a
fresh process per size (`bench.memprobe`): the resident memory before training (data built) and
the peak during training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from typing import Any

from bench import datasets, measure, peers
from bench.project import REPO

REAL = {
    "rows": [1_000, 10_000, 100_000, 1_000_000],
    "rows_hidden": 15,
    "hidden": [15, 64, 256, 1024],
    "hidden_rows": 10_000,
    "features": 30,
    "seconds_per_run": 0.6,
    "repeats": 5,
    "threads": 1,
    "memory_epochs": 2,
    "memory_of": ("dlnet", "floor"),
}
SMOKE = {
    "rows": [200, 1_000],
    "rows_hidden": 15,
    "hidden": [15, 32],
    "hidden_rows": 500,
    "features": 30,
    "seconds_per_run": 0.01,
    "repeats": 2,
    "threads": 1,
    "memory_epochs": 1,
    "memory_of": ("dlnet",),
}
NAMES = ("dlnet", "floor")


def epochs_for(rows: int, hidden: int, features: int, seconds: float) -> int:
    """Epochs for the long run: about `seconds` by a rough cost model of one epoch on this kind of
    machine, and at least 8, so that the difference with the short run (a quarter of it) spans enough
    epochs to stand above the noise of the runs' one-off costs."""
    per_epoch = 20e-6 + rows * (hidden + features) * 4e-9
    return max(8, min(2000, round(seconds / per_epoch)))


def memory(rows: int, hidden: int, epochs: int, name: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memprobe", str(rows), str(hidden), str(epochs), name],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {rows}x{hidden} {name} failed: {done.stderr.strip()[-2000:]}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    probe["training_bytes"] = max(0, probe["peak_rss"] - probe["rss_before"])
    return probe


def point(rows: int, hidden: int, settings: dict[str, Any]) -> dict[str, Any]:
    data = datasets.synthetic(rows, settings["features"])
    epochs = epochs_for(rows, hidden, settings["features"], settings["seconds_per_run"])
    task = peers.Task(
        data.X,
        data.Y,
        peers.initial_params(data.X.shape[0], hidden),
        lr=0.07,
        epochs=epochs,
        strategy="full",
        batch_size=rows,
    )
    short = max(1, epochs // 4)
    runs = {
        name: (peers.PREPARE[name](dataclasses.replace(task, epochs=short)), peers.PREPARE[name](task))
        for name in NAMES
    }
    with measure.threads(settings["threads"]):
        per_epoch_samples, once, _ = measure.interleave_marginal(runs, short, epochs, settings["repeats"])
    record: dict[str, Any] = {
        "rows": rows,
        "hidden": hidden,
        "features": settings["features"],
        "epochs": epochs,
        "short_epochs": short,
    }
    for name in NAMES:
        per_epoch = measure.summary(per_epoch_samples[name])
        record[name] = {
            "per_epoch_s": per_epoch,
            "once_per_run_s": measure.summary(once[name]),
            "ns_per_row": per_epoch["median"] / rows * 1e9,
            "memory": memory(rows, hidden, settings["memory_epochs"], name) if name in settings["memory_of"] else None,
        }
    record["dlnet_over_floor"] = record["dlnet"]["per_epoch_s"]["median"] / record["floor"]["per_epoch_s"]["median"]
    return record


def slope(points: list[dict[str, Any]], x: str, name: str = "dlnet") -> float | None:
    """Least-squares slope of log(time per epoch) against log(x): 1.0 is linear growth."""
    pairs = [(math.log(p[x]), math.log(p[name]["per_epoch_s"]["median"])) for p in points]
    if len(pairs) < 2:
        return None
    mx = sum(a for a, _ in pairs) / len(pairs)
    my = sum(b for _, b in pairs) / len(pairs)
    var = sum((a - mx) ** 2 for a, _ in pairs)
    return sum((a - mx) * (b - my) for a, b in pairs) / var if var else None


def run(smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    by_rows = [point(rows, settings["rows_hidden"], settings) for rows in settings["rows"]]
    by_hidden = [point(settings["hidden_rows"], hidden, settings) for hidden in settings["hidden"]]
    # Fixed per-epoch costs dominate the smallest size; the growth is judged from 10x its rows up.
    large = [p for p in by_rows if p["rows"] >= 10 * settings["rows"][0]] or by_rows
    return {
        "settings": settings,
        "rows": by_rows,
        "hidden": by_hidden,
        "rows_slope": slope(large, "rows"),
        "rows_slope_from": large[0]["rows"],
        "hidden_slope": slope(by_hidden, "hidden"),
    }
