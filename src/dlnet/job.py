"""One training job, from a composed config to a tracked MLflow run.

Shared by the `dlnet-train` Hydra app (cli.py) and the DVC `train` stage (train.py):
check the config, check the data on disk is the data the config asks for, train,
evaluate, and record everything in MLflow.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import yaml

from dlnet.config import Config, ConfigError, flatten, validate
from dlnet.data.errors import DataNotBuiltError
from dlnet.lineage import SCALED_DIR, dvc_digest, files_digest, git_state

# The meta.json key the `scale` stage wrote for each config key it depends on.
DATA_KEYS = {
    "data.name": "dataset",
    "data.missing": "missing",
    "data.split": "split",
    "data.val_fraction": "val_fraction",
    "data.test_fraction": "test_fraction",
    "data.split_seed": "split_seed",
    "scale.method": "scale",
}
# Short names for the swept keys in run names: `lr=0.07 h=15 mini`.
SHORT_NAMES = {"optim.lr": "lr", "model.hidden_units": "h", "batch.size": "bs", "train.seed": "seed"}


class DataMismatchError(RuntimeError):
    """The scaled data on disk was built from another data/scale config than the one requested."""


# What a job raises, before any run is created, when its config or its data is wrong.
INPUT_ERRORS = (ConfigError, DataMismatchError, DataNotBuiltError)


@dataclass
class JobResult:
    run_id: str
    run_name: str
    status: str  # FINISHED or FAILED (diverged)
    epochs_run: int
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None


def run_name(config: Config, swept: Iterable[str] = ()) -> str:
    """What differs between runs, in a few characters: `lr=0.07 h=15 mini`."""
    batch = config.batch.name if config.batch.name != "mini" or config.batch.size == 32 else f"mini{config.batch.size}"
    parts = [f"lr={config.optim.lr:g}", f"h={config.model.hidden_units}", batch]
    flat = flatten(_as_dict(config))
    for key in swept:
        if key in ("optim.lr", "model.hidden_units", "batch", "batch.name") or key not in flat:
            continue
        if key == "batch.size" and config.batch.name == "mini":
            continue
        parts.append(f"{SHORT_NAMES.get(key, key.split('.')[-1])}={flat[key]}")
    return " ".join(parts)


def _as_dict(config: Config) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(config))


def check_data(root: Path, config: Config) -> dict[str, Any]:
    """The `scale` stage's metadata, after checking it matches the config; else a clear error."""
    meta_path = root / SCALED_DIR / "meta.json"
    if not meta_path.is_file():
        raise DataNotBuiltError(
            f"no prepared data: {SCALED_DIR / 'meta.json'} does not exist. Build it first with `dvc repro` "
            "(or `make repro`)."
        )
    meta = json.loads(meta_path.read_text())
    flat = flatten(_as_dict(config))
    differences = [
        (key, meta.get(meta_key), flat[key]) for key, meta_key in DATA_KEYS.items() if meta.get(meta_key) != flat[key]
    ]
    if differences:
        said = "; ".join(f"{key}: built {built!r}, asked {asked!r}" for key, built, asked in differences)
        overrides = " ".join(f"-S {key}={asked}" for key, _, asked in differences)
        raise DataMismatchError(
            f"the data in {SCALED_DIR} was built from another config ({said}). Training on it would not be "
            f"what the config says. Rebuild it: `dvc exp run {overrides}` (or set them in params.yaml and "
            "run `dvc repro`), or ask for the data that was built."
        )
    return meta


def _progress(epochs: int, enabled: bool):
    """A progress bar at a terminal; nothing otherwise (CI, logs, parallel workers)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=epochs, unit="epoch", dynamic_ncols=True, leave=False, file=sys.stderr)


def run_job(
    cfg: dict[str, Any],
    *,
    root: Path,
    source: str,
    parent_run_id: str | None = None,
    swept: Iterable[str] = (),
    progress: bool | None = None,
    extra_tags: dict[str, str] | None = None,
    on_history: Callable[[tuple[int, float, float | None]], None] | None = None,
) -> JobResult:
    """Train the network `cfg` describes and track it as one MLflow run; return what it reached.

    Raises one of INPUT_ERRORS before any run is created.
    """
    config = validate(cfg)
    meta = check_data(root, config)

    from dlnet import plots, tracking
    from dlnet.data.dataset import load_scaled
    from dlnet.metrics import classification_metrics, confusion
    from dlnet.network import TwoLayerNet
    from dlnet.training import train

    splits, _ = load_scaled(root / SCALED_DIR)
    train_split, val_split, test_split = splits["train"], splits["val"], splits["test"]
    dtype = np.dtype(config.model.dtype)
    has_val = val_split.X.shape[1] > 0
    has_test = test_split.X.shape[1] > 0

    # A queued `dvc exp run` trains in a temporary copy; DVC_ROOT names the project it came from,
    # whose store must receive the run.
    uri = tracking.store_uri(Path(os.environ.get("DVC_ROOT") or root), config.tracking.uri)
    experiment_id = tracking.ensure_experiment(uri, config.tracking.experiment)
    name = run_name(config, swept)
    scaled_files = [root / SCALED_DIR / f"{part}.csv" for part in ("train", "val", "test")]
    data_digest = files_digest(scaled_files)
    tags = {
        "source": source,
        "dlnet.dataset": config.data.name,
        "dlnet.split": config.data.split,
        "dlnet.scale": config.scale.method,
        "dlnet.batch": config.batch.name,
        "dlnet.data.digest": data_digest,
        "dlnet.data.dvc_md5": dvc_digest(root),
        "dlnet.data.raw_sha256": meta.get("raw_sha256", "unknown"),
        **git_state(root),
        **(extra_tags or {}),
    }
    if tags.get("git.commit", "none") != "none":
        tags["mlflow.source.git.commit"] = tags["git.commit"]
    if progress is None:
        progress = sys.stderr.isatty() and parent_run_id is None

    with tracking.run(uri, experiment_id, name, parent_run_id=parent_run_id, tags=tags) as logger:
        resolved = _as_dict(config)
        logger.log_params(flatten(resolved))
        import pandas as pd

        logger.log_dataset(
            pd.read_csv(scaled_files[0]), name=f"{config.data.name}-{config.scale.method}-train",
            source=str(scaled_files[0]), digest=data_digest, context="training", targets="label",
        )

        net = TwoLayerNet(
            train_split.X.shape[0], config.model.hidden_units, init=config.model.init,
            rng=config.train.seed, dtype=dtype,
        )
        bar = _progress(config.train.epochs, progress)

        def on_epoch(epoch: int, train_loss: float, val_loss: float | None) -> None:
            logger.add_points(epoch, {"train/loss": train_loss, "val/loss": val_loss})
            if on_history is not None:
                on_history((epoch, train_loss, val_loss))
            if bar is not None:
                bar.update(epoch - bar.n)
                bar.set_postfix_str(f"loss {train_loss:.4f}", refresh=False)

        try:
            history = train(
                net, train_split.X, train_split.Y, lr=config.optim.lr, epochs=config.train.epochs,
                strategy=config.batch.name, batch_size=config.batch.size, seed=config.train.seed,
                X_val=val_split.X if has_val else None, Y_val=val_split.Y if has_val else None,
                log_every=config.train.log_every, callback=on_epoch,
                divergence_factor=config.train.divergence_factor,
            )
        finally:
            if bar is not None:
                bar.close()
        logger.flush()

        final: dict[str, float] = {"epochs_run": history.epochs_run, "time/train_seconds": history.seconds}
        if not history.diverged:
            threshold = config.model.threshold
            final["train/accuracy"] = classification_metrics(
                train_split.Y, net.predict_proba(train_split.X), threshold)["accuracy"]
            for part, split, present in (("val", val_split, has_val), ("test", test_split, has_test)):
                if present:
                    scores = classification_metrics(split.Y, net.predict_proba(split.X), threshold)
                    final.update({f"{part}/{key}": value for key, value in scores.items()})
        logger.log_metrics({k: v for k, v in final.items() if np.isfinite(v)}, step=history.epochs_run)

        with tempfile.TemporaryDirectory(prefix="dlnet-artifacts-") as scratch:
            folder = Path(scratch)
            (folder / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
            np.savez(folder / "weights.npz", **net.params, threshold=np.array(config.model.threshold))
            plots.loss_curve(history.epochs, history.train_loss, history.val_loss if has_val else None,
                             folder / "loss_curve.png", title=name,
                             log_scale=config.tracking.loss_plot_scale == "log")
            if not history.diverged:
                shown, shown_split = ("val", val_split) if has_val else ("train", train_split)
                plots.confusion_matrix_plot(
                    confusion(shown_split.Y, net.predict_proba(shown_split.X), config.model.threshold),
                    folder / "confusion_matrix.png", title=f"{name} ({shown})",
                )
            scaler = root / SCALED_DIR / "scaler.json"
            for path in sorted(folder.iterdir()):
                logger.log_artifact(path)
            if scaler.is_file():
                logger.log_artifact(scaler)

        if history.diverged:
            logger.set_tags({"dlnet.diverged_epoch": history.diverged_epoch})
            logger.fail(f"diverged: {history.reason}")

    result = JobResult(
        run_id=logger.run_id, run_name=name, status="FAILED" if history.diverged else "FINISHED",
        epochs_run=history.epochs_run, metrics=final, reason=history.reason,
    )
    print(summary_line(result), flush=True)
    return result


def summary_line(result: JobResult) -> str:
    """One line per run: name, epochs, accuracies, time, MLflow run id."""
    m = result.metrics
    if result.status == "FAILED":
        outcome = f"DIVERGED ({result.reason})"
    else:
        accuracies = [f"{part} acc {m[f'{part}/accuracy']:.3f}" for part in ("val", "test") if f"{part}/accuracy" in m]
        outcome = ", ".join(accuracies) or f"train acc {m.get('train/accuracy', float('nan')):.3f}"
    return (
        f"[{result.run_name}] {result.epochs_run} epochs, {outcome}, "
        f"{m.get('time/train_seconds', 0.0):.2f} s, MLflow run {result.run_id}"
    )

