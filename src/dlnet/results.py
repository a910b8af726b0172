"""A run's results on disk, written before anything is sent to the tracking store.

If the store fails during a run, training goes on and nothing is lost: the run's folder
(`<output dir>/run/`) holds everything the store would have received, and
`dlnet-runs sync FOLDER` sends it once the store is back.

    run.json        name, experiment, store, run id, parent run, status and reason, tags, params
    metrics.json    the final metrics
    history.csv     epoch, train/loss, val/loss (every logged epoch)
    config.yaml  weights.npz  scaler.json  loss_curve.png  confusion_matrix.png   (the artifacts)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ARTIFACTS = ("config.yaml", "weights.npz", "scaler.json", "loss_curve.png", "confusion_matrix.png")
HISTORY_KEYS = ("train/loss", "val/loss")


def write_history(
    folder: Path, epochs: Sequence[int], train_loss: Sequence[float], val_loss: Sequence[float] | None
) -> None:
    with open(folder / "history.csv", "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["epoch", *HISTORY_KEYS])
        for index, epoch in enumerate(epochs):
            val = "" if val_loss is None else repr(float(val_loss[index]))
            writer.writerow([int(epoch), repr(float(train_loss[index])), val])


def read_history(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every logged point, by metric: {"train/loss": [(epoch, value), ...], ...}."""
    points: dict[str, list[tuple[int, float]]] = {key: [] for key in HISTORY_KEYS}
    with open(folder / "history.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            for key in HISTORY_KEYS:
                if row.get(key):
                    points[key].append((int(row["epoch"]), float(row[key])))
    return points


def write_json(path: Path, content: dict[str, Any]) -> None:
    finite = {k: v for k, v in content.items() if not (isinstance(v, float) and not math.isfinite(v))}
    path.write_text(json.dumps(finite, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
