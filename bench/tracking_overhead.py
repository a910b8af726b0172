"""Section 3, tracking overhead: the same 2,000-epoch run with and without MLflow tracking.

  tracked    `dlnet.job.run_job`, one whole tracked run as `dlnet-train` makes it: the run, its
             params and tags, the dataset input, the loss curves (train/loss and val/loss every
             epoch, sent in batches), the final metrics, the plots and the artifacts, on a SQLite store.
  untracked  the same run without MLflow: read the scaled data, build the network, `train` with the
             same arguments, compute the same final metrics.

Both run in this process (MLflow imported and the store created beforehand, so neither import
time nor the store's creation is counted) and take turns. Three numbers per batch strategy:
the whole-run ratio (the goal), the training-loop ratio (the loop's own time with and without the
logging callback), and the fixed cost of a tracked run. Separately, the cost of one logged point:
`RunLogger.add_points` and `flush` for as many points as the run logs, and the cost of logging a
run's packaged model (`dlnet.job.log_model`: the MLflow pyfunc model saved, uploaded, linked to the
run). And where one more tracked run spends its time, its parts timed by wrapping the functions
`run_job` calls (`stopwatch`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import measure
from bench.project import Workspace, sqlite_uri

REAL = {
    # strategy: (epochs, repeats)
    "runs": {"full": (2000, 5), "mini": (2000, 5), "stochastic": (2000, 3)},
    "points_repeats": 5,
    "model_repeats": 15,
}
SMOKE = {
    "runs": {"full": (20, 1), "mini": (5, 1)},
    "points_repeats": 1,
    "model_repeats": 2,
}


def _untracked(root: Path, config) -> Any:
    from dlnet.data.dataset import load_scaled
    from dlnet.data.variants import scaled_dir
    from dlnet.metrics import classification_metrics
    from dlnet.network import TwoLayerNet
    from dlnet.training import train

    splits, _ = load_scaled(root / scaled_dir("original", "standard"))
    tr, va, te = splits["train"], splits["val"], splits["test"]
    net = TwoLayerNet(
        tr.X.shape[0],
        config.model.hidden_units,
        init=config.model.init,
        rng=config.train.seed,
        dtype=np.dtype(config.model.dtype),
    )
    history = train(
        net,
        tr.X,
        tr.Y,
        lr=config.optim.lr,
        epochs=config.train.epochs,
        strategy=config.batch.name,
        batch_size=config.batch.size,
        seed=config.train.seed,
        X_val=va.X,
        Y_val=va.Y,
        log_every=config.train.log_every,
        divergence_factor=config.train.divergence_factor,
        engine=config.train.engine,  # the engine the tracked run uses: only the tracking differs
    )
    for split in (tr, va, te):
        classification_metrics(split.Y, net.predict_proba(split.X), config.model.threshold)
    return history


# Where a tracked run's time goes: (label, module or class path, attributes). Timed at the
# outermost wrapped call only, so nothing counts twice (the points logged during training count
# as training).
PARTS = (
    ("training loop, with its logging callback", "dlnet.training", ("train",)),
    ("reading and checking the data (cells, digests)", "dlnet.job", ("check_data",)),
    ("config checks", "dlnet.job", ("validate", "_as_dict", "flatten")),
    ("lineage: git state and DVC digest", "dlnet.job", ("git_state", "dvc_digest")),
    ("final metrics", "dlnet.metrics", ("classification_metrics", "confusion")),
    ("plots (loss curve, confusion matrix)", "dlnet.plots", ("loss_curve", "confusion_matrix_plot")),
    ("MLflow: experiment, run start and end", "mlflow.tracking.MlflowClient", ("create_run", "set_terminated")),
    ("MLflow: experiment lookup", "dlnet.tracking", ("ensure_experiment",)),
    ("MLflow: params, tags, dataset input", "dlnet.tracking.RunLogger", ("log_params", "set_tags", "log_dataset")),
    ("MLflow: last points and final metrics", "dlnet.tracking.RunLogger", ("flush", "log_metrics", "add_points")),
    ("MLflow: artifacts (weights, config, plots, scaler)", "dlnet.tracking.RunLogger", ("log_artifact",)),
    ("MLflow: the packaged model (pyfunc saved, uploaded, linked)", "dlnet.job", ("log_model",)),
)


def _resolve(path: str):
    """A module, or a class given as `module.Class`."""
    module, _, name = path.rpartition(".")
    if name[:1].isupper():
        return getattr(importlib.import_module(module), name)
    return importlib.import_module(path)


@contextlib.contextmanager
def stopwatch(parts=PARTS):
    """Wrap the functions of `parts` with timers; yields the seconds per label, filled as they run."""
    seconds: dict[str, float] = {label: 0.0 for label, _, _ in parts}
    depth = [0]
    saved = []

    def timer(label, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - start
                depth[0] -= 1

        return wrapped

    for label, path, names in parts:
        owner = _resolve(path)
        for name in names:
            original = vars(owner)[name]  # defined right there, not inherited
            saved.append((owner, name, original))
            setattr(owner, name, timer(label, original))
    try:
        yield seconds
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _breakdown(cfg: dict[str, Any], root: Path) -> dict[str, float]:
    """One more tracked run with the parts timed; `other` is what no part covers."""
    from dlnet import job

    with stopwatch() as seconds, contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        job.run_job(cfg, root=root, source="bench", progress=False)
        total = time.perf_counter() - start
    out = dict(seconds)
    out["other (temporary files, yaml, saving the weights, ...)"] = total - sum(seconds.values())
    out["total"] = total
    return out


def _point_cost(uri: str, experiment_id: str, epochs: int) -> float:
    """Seconds to queue and send `epochs` x 2 points through a RunLogger (run creation excluded)."""
    from dlnet import tracking

    with tracking.run(uri, experiment_id, "bench points") as logger:
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            logger.add_points(epoch, {"train/loss": 0.5, "val/loss": 0.6})
        logger.flush()
        return time.perf_counter() - start


def _model_cost(uri: str, experiment_id: str, root: Path, cfg: dict[str, Any], repeats: int) -> list[float]:
    """Seconds to log a run's packaged model (`dlnet.job.log_model`), once per fresh run with the
    run's params and final metrics, as `run_job` logs it (run creation excluded)."""
    from dlnet import job, tracking
    from dlnet.config import flatten, validate
    from dlnet.data.dataset import load_scaled
    from dlnet.network import TwoLayerNet

    config = validate(cfg)
    folder = root / job.data_dir(config)
    splits, _ = load_scaled(folder)
    net = TwoLayerNet(splits["train"].X.shape[0], config.model.hidden_units, rng=config.train.seed)
    final = {"val/accuracy": 0.97, "val/loss": 0.08, "test/accuracy": 0.96, "epochs_run": 100.0}
    seconds = []
    for _ in range(repeats):
        with tracking.run(uri, experiment_id, "bench model") as logger:
            logger.log_params(flatten(job._as_dict(config)))
            logger.log_metrics(final, step=100)
            start = time.perf_counter()
            job.log_model(
                uri,
                logger.run_id,
                net.params,
                config,
                (folder / "scaler.json").read_bytes(),
                splits["train"].X,
                step=100,
                metrics=final,
            )
            seconds.append(time.perf_counter() - start)
    return seconds


def run(workspace: Workspace, smoke: bool = False) -> dict[str, Any]:
    from dlnet import tracking
    from dlnet.config import validate
    from dlnet.job import run_job
    from dlnet.params import compose_defaults

    settings = SMOKE if smoke else REAL
    root = workspace.built_project()
    from dlnet.data.dataset import load_scaled
    from dlnet.data.variants import scaled_dir

    splits, _ = load_scaled(root / scaled_dir("original", "standard"))
    rows = {part: split.m for part, split in splits.items()}
    (workspace.path / "tracking").mkdir(exist_ok=True)
    uri = sqlite_uri(workspace.path / "tracking" / "mlflow.db")
    cases = []
    for strategy, (epochs, repeats) in settings["runs"].items():
        cfg = compose_defaults(root / "conf", [f"batch={strategy}", f"train.epochs={epochs}", f"tracking.uri={uri}"])
        config = validate(cfg)
        experiment_id = tracking.ensure_experiment(uri, config.tracking.experiment)
        loop_seconds: dict[str, list[float]] = {"tracked": [], "untracked": []}

        # Each round's contenders are built and timed within its iteration: bound here all the same.
        def tracked(cfg=cfg, loop_seconds=loop_seconds):
            with contextlib.redirect_stdout(io.StringIO()):
                result = run_job(cfg, root=root, source="bench", progress=False)
            loop_seconds["tracked"].append(result.metrics["time/train_seconds"])
            return result

        def untracked(config=config, loop_seconds=loop_seconds):
            history = _untracked(root, config)
            loop_seconds["untracked"].append(history.seconds)
            return history

        # The warm-up round is skipped for long runs: MLflow is imported and the store made already.
        warmup = 1 if epochs * (1 if strategy == "full" else 10) < 50_000 else 0
        with measure.threads(1):
            times, last = measure.interleave({"tracked": tracked, "untracked": untracked}, repeats, warmup=warmup)
            points = epochs * 2
            point_seconds = [_point_cost(uri, experiment_id, epochs) for _ in range(settings["points_repeats"])]
            breakdown = _breakdown(cfg, root)
        # Drop the warm-up round's loop times.
        loop = {k: v[warmup:] for k, v in loop_seconds.items()}
        whole = {k: measure.summary(v) for k, v in times.items()}
        loop_stats = {k: measure.summary(v) for k, v in loop.items()}
        cases.append(
            {
                "strategy": strategy,
                "batch_size": config.batch.size,
                "epochs": epochs,
                "repeats": repeats,
                "rows": rows,
                "points_logged": points,
                "status": last["tracked"].status,
                "whole_s": whole,
                "loop_s": loop_stats,
                "whole_ratio": whole["tracked"]["median"] / whole["untracked"]["median"],
                "loop_ratio": loop_stats["tracked"]["median"] / loop_stats["untracked"]["median"],
                # What tracking adds to a run, from the medians: in the loop (the logging callback),
                # and outside it (run, params, dataset, final metrics, plots, artifacts).
                "extra_s": whole["tracked"]["median"] - whole["untracked"]["median"],
                "extra_loop_s": loop_stats["tracked"]["median"] - loop_stats["untracked"]["median"],
                "per_point_s": measure.scaled(measure.summary(point_seconds), 1 / points),
                "breakdown_s": breakdown,
            }
        )
    model_cfg = compose_defaults(root / "conf", [f"tracking.uri={uri}"])
    with measure.threads(1):
        model_seconds = _model_cost(
            uri, tracking.ensure_experiment(uri, "dlnet"), root, model_cfg, settings["model_repeats"]
        )
    return {
        "settings": {k: v for k, v in settings.items()},
        "threads": 1,
        "cases": cases,
        "model_log_s": measure.summary(model_seconds),
    }
