"""One training job, from a composed config to a tracked MLflow run.

Shared by the `dlnet-train` Hydra app (cli.py) and the DVC `train` stage (train.py):
check the config, check the data on disk is the data the config asks for, train,
evaluate, and record everything in MLflow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from dlnet import results
from dlnet.config import Config, ConfigError, flatten, validate
from dlnet.data.dataset import ScaledData, load_variant
from dlnet.data.errors import DataError, DataNotBuiltError
from dlnet.data.variants import SCALED_DIR, build_command, catalogue, scaled_dir, scaled_name
from dlnet.lineage import dvc_digest, git_state
from dlnet.resources import check_fits
from dlnet.uris import check_reachable, portable_params, redact

if TYPE_CHECKING:
    from dlnet.run_end import RunEnd  # imports MLflow: at run time only inside a run

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
INPUT_ERRORS = (ConfigError, DataMismatchError, DataNotBuiltError, DataError)


@dataclass
class JobResult:
    run_id: str
    run_name: str
    status: str  # FINISHED or FAILED (diverged)
    epochs_run: int
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    pruned: bool = False  # stopped early because `on_history` asked (a sweeper's pruner): FINISHED
    # the run's MLflow model (models:/<model id>); None if diverged or pruned, or if its end was
    # handed off (a sweep's run: dlnet.run_end)
    model_uri: str | None = None
    tracking_uri: str | None = None


def run_name(config: Config, swept: Iterable[str] = ()) -> str:
    """What differs between runs, in a few characters: `lr=0.07 h=15 mini`, `article` for a preset's run.

    A swept data set or scaling joins the name (`lr=0.3 h=15 full wdbc minmax`).
    """
    swept = list(swept)
    batch = config.batch.name if config.batch.name != "mini" or config.batch.size == 32 else f"mini{config.batch.size}"
    parts = [f"lr={config.optim.lr:g}", f"h={config.model.hidden_units}", batch]
    flat = flatten(_as_dict(config))
    for key in swept:
        if key in ("data", "data.variant"):
            parts.append(config.data.variant)
        elif key in ("scale", "scale.method"):
            parts.append(config.scale.method)
        elif key in ("optim.lr", "model.hidden_units", "batch", "batch.name") or key not in flat:
            continue
        elif key == "batch.size":  # mini shows its size already; full and stochastic have none to show
            continue
        else:
            parts.append(f"{SHORT_NAMES.get(key, key.split('.')[-1])}={flat[key]}")
    if config.tracking.run_name:
        return f"{config.tracking.run_name} {' '.join(parts)}" if swept else config.tracking.run_name
    return " ".join(parts)


def _as_dict(config: Config) -> dict[str, Any]:
    """The config as nested plain dicts (a fresh copy each time)."""
    return dataclasses.asdict(config)


def data_dir(config: Config) -> Path:
    """The folder, relative to the project root, holding the scaled data `config` asks for."""
    return scaled_dir(config.data.variant, config.scale.method)


def check_data(root: Path, config: Config, folder: Path | None = None) -> ScaledData:
    """The config's variant, read once and checked, after checking it matches the config; else a clear error.

    `folder` (default: the variant's folder under `root`) is where the data is. Every file is
    checked cell by cell and against the digests the `scale` stage recorded (see
    dlnet.data.dataset.load_variant); a run uses what this returns and reads nothing again.
    """
    built_for_run = folder is not None
    shown = data_dir(config) if folder is None else folder
    folder = root / shown if folder is None else folder
    variant, method = config.data.variant, config.scale.method
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise DataNotBuiltError(_not_built(root, variant, method, shown))
    rebuild = (
        "it was built for this run alone: run the train stage again"
        if built_for_run
        else f"rebuild it: `{build_command(variant, method)}`"
    )
    data = load_variant(folder, shown=shown, rebuild=rebuild)
    meta = data.meta
    flat = flatten(_as_dict(config))
    differences = [
        (key, meta.get(meta_key), flat[key]) for key, meta_key in DATA_KEYS.items() if meta.get(meta_key) != flat[key]
    ]
    if differences:
        said = "; ".join(f"{key}: built {built!r}, asked {asked!r}" for key, built, asked in differences)
        if _as_in_conf(root, config):
            raise DataMismatchError(
                f"the data in {shown} was built from an older conf/data/{variant}.yaml or conf/scale/{method}.yaml "
                f"({said}). Rebuild it: `{build_command(variant, method)}`."
            )
        overrides = " ".join(f"-S {key}={asked}" for key, _, asked in differences)
        raise DataMismatchError(
            f"no data variant has this data config: {shown} was built with other values ({said}), and training "
            f"on it would not be what the config says. Train it through DVC, which builds it: `dvc exp run "
            f"{overrides}`; or make it a variant: a file conf/data/<name>.yaml with these values, listed in "
            "conf/variants.yaml, then `dvc repro`."
        )
    rows = meta.get("rows") or {}
    check_fits(config, len(meta.get("features") or ()), rows.get("train", 0), rows.get("val", 0), rows.get("test", 0))
    return data


def _not_built(root: Path, variant: str, method: str, shown: Path) -> str:
    if not (root / SCALED_DIR).is_dir():
        return f"no data is built yet ({SCALED_DIR} does not exist): build it with `make repro` (or `dvc repro`)."
    listed = catalogue(root)
    if variant in listed["data"] and method in listed["scale"]:
        return (
            f"the data variant {scaled_name(variant, method)} is not built: {shown / 'meta.json'} does not exist. "
            f"Build it: `{build_command(variant, method)}` (or every variant: `dvc repro`, `make repro`)."
        )
    if not (root / "conf" / "data" / f"{variant}.yaml").is_file():
        return f"data.variant={variant!r}: there is no conf/data/{variant}.yaml, so no such data variant."
    return (
        f"the data variant {scaled_name(variant, method)} is not built, and conf/variants.yaml does not list "
        f"it: add {variant!r} to its `data` list (and {method!r} to `scale`), then run `dvc repro`."
    )


def _as_in_conf(root: Path, config: Config) -> bool:
    """Whether the config's data and scale keys are those of its variant's files in conf/ (a stale build)."""
    import yaml

    try:
        data = yaml.safe_load((root / "conf" / "data" / f"{config.data.variant}.yaml").read_text())
        scale = yaml.safe_load((root / "conf" / "scale" / f"{config.scale.method}.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    flat = flatten(_as_dict(config))
    files = {**{f"data.{k}": v for k, v in (data or {}).items()}, **{f"scale.{k}": v for k, v in (scale or {}).items()}}
    return all(files.get(key) == flat[key] for key in DATA_KEYS)


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
    on_history: Callable[[tuple[int, float, float | None]], str | None] | None = None,
    data_folder: Path | None = None,
    output_dir: Path | None = None,
    uri: str | None = None,
) -> JobResult:
    """Train the network `cfg` describes and track it as one MLflow run; return what it reached.

    The data is the config's variant under `root`, or `data_folder` when given (data built
    for this run alone). `on_history` sees every logged (epoch, train loss, val loss); when it
    returns a reason (a string), training stops there and the run ends FINISHED, tagged
    `dlnet.pruned=true`. Raises one of INPUT_ERRORS before any run is created. The run's
    results are written to `output_dir`/run (dlnet.results) before they are sent to the
    store; if the store fails meanwhile, training goes on, and TrackingError says where they are.
    `uri` is the tracking URI when the caller resolved it already (a sweep's controller);
    otherwise tracking.uri, MLFLOW_TRACKING_URI, or the project's SQLite store.
    """
    config = validate(cfg)
    data = check_data(root, config, data_folder)  # everything the run uses, read once
    meta = data.meta
    scaled_folder = data_folder if data_folder is not None else root / data_dir(config)

    from dlnet import run_end, tracking

    # A queued `dvc exp run` trains in a temporary copy; DVC_ROOT names the project it came from,
    # whose store must receive the run.
    uri = uri or tracking.store_uri(Path(os.environ.get("DVC_ROOT") or root), config.tracking.uri)
    if parent_run_id is None:
        # Before any training: an unreachable server fails in seconds, not minutes. A sweep's
        # controller checked already; its jobs ride out a server restart on MLflow's retries.
        check_reachable(uri)
    # A sweep's controller looked for dead runs once, before its jobs: not again in every job.
    experiment_id = tracking.ensure_experiment(uri, config.tracking.experiment, reap=parent_run_id is None)
    # Params any machine can read: passwords masked, this machine's paths kept as tags only.
    params, local_tags = portable_params(flatten(_as_dict(config)), root)
    name = run_name(config, swept)
    data_digest = data.digest
    tags = {
        "source": source,
        "dlnet.data.variant": meta.get("variant", scaled_name(config.data.variant, config.scale.method)),
        "dlnet.dataset": config.data.name,
        "dlnet.split": config.data.split,
        "dlnet.scale": config.scale.method,
        "dlnet.batch": config.batch.name,
        "dlnet.data.digest": data_digest,
        "dlnet.data.dvc_md5": dvc_digest(root, data_dir(config)) if data_folder is None else "none",
        "dlnet.data.raw_sha256": meta.get("raw_sha256", "unknown"),
        **git_state(root),
        **local_tags,
        **(extra_tags or {}),
    }
    if tags.get("git.commit", "none") != "none":
        tags["mlflow.source.git.commit"] = tags["git.commit"]
    if progress is None:
        progress = sys.stderr.isatty() and parent_run_id is None

    saved = Path(output_dir) / "run" if output_dir is not None else Path(tempfile.mkdtemp(prefix="dlnet-run-"))
    try:
        with tracking.run(uri, experiment_id, name, parent_run_id=parent_run_id, tags=tags) as logger:
            history, final, stopped, end = _train_and_save(
                logger, config, name, saved, data, scaled_folder, progress, on_history, params
            )
            results.write_json(
                saved / "run.json",
                {
                    "run_id": logger.run_id,
                    "run_name": name,
                    "experiment": config.tracking.experiment,
                    "store": _without_password(uri),
                    "parent_run_id": parent_run_id,
                    "status": "FAILED" if history.diverged else "FINISHED",
                    "reason": end.failure,
                    "tags": tags,
                    "params": params,
                    "epochs_run": history.epochs_run,
                },
            )
            # In a sweep's own process, sent by its second process while the next run trains (then the
            # model's URI is not known here); else sent here, and the run ended as this block closes.
            model_uri = run_end.finish(logger, end, hand_off=output_dir is not None)
    except tracking.TrackingError as error:
        if (saved / "run.json").is_file():
            raise tracking.TrackingError(
                f"{error}. The run trained; its results are saved in {saved}: send them once the store is back "
                f"with `dlnet-runs sync {saved}`"
            ) from error
        raise
    finally:
        if output_dir is None:
            shutil.rmtree(saved, ignore_errors=True)

    result = JobResult(
        run_id=logger.run_id,
        run_name=name,
        status="FAILED" if history.diverged else "FINISHED",
        epochs_run=history.epochs_run,
        metrics=final,
        reason=history.reason or stopped,
        pruned=stopped is not None,
        model_uri=model_uri,
        tracking_uri=uri,
    )
    print(summary_line(result), flush=True)
    return result


def _train_and_save(
    logger,
    config: Config,
    name: str,
    saved: Path,
    data: ScaledData,
    scaled_folder: Path,
    progress: bool,
    on_history,
    params: dict[str, Any],
) -> tuple[Any, dict[str, float], str | None, RunEnd]:
    """Train on `data` (its points sent through `logger`), evaluate, and save the results in `saved`;
    return the history, the final metrics, why `on_history` stopped the training (None if it did not)
    and what the run has left to send."""
    from dlnet import run_end
    from dlnet.metrics import classification_metrics, confusion
    from dlnet.network import TwoLayerNet
    from dlnet.training import train

    meta, splits = data.meta, data.splits
    train_split, val_split, test_split = splits["train"], splits["val"], splits["test"]
    has_val, has_test = val_split.X.shape[1] > 0, test_split.X.shape[1] > 0
    resolved = _as_dict(config)
    logger.log_params(params)
    logger.log_dataset(
        data.frames["train"],
        name=f"{meta.get('variant', config.data.name + '-' + config.scale.method)}-train",
        source=str(scaled_folder / "train.csv"),
        digest=data.digest,
        context="training",
        targets="label",
    )

    net = TwoLayerNet(
        train_split.X.shape[0],
        config.model.hidden_units,
        init=config.model.init,
        rng=config.train.seed,
        dtype=np.dtype(config.model.dtype),
    )
    bar = _progress(config.train.epochs, progress)
    stop_reasons: list[str] = []

    def on_epoch(epoch: int, train_loss: float, val_loss: float | None) -> bool:
        logger.add_points(epoch, {"train/loss": train_loss, "val/loss": val_loss})
        stop = on_history((epoch, train_loss, val_loss)) if on_history is not None else None
        if bar is not None:
            bar.update(epoch - bar.n)
            bar.set_postfix_str(f"loss {train_loss:.4f}", refresh=False)
        if stop:
            stop_reasons.append(str(stop))
        return bool(stop)

    try:
        history = train(
            net,
            train_split.X,
            train_split.Y,
            lr=config.optim.lr,
            epochs=config.train.epochs,
            strategy=config.batch.name,
            batch_size=config.batch.size,
            seed=config.train.seed,
            X_val=val_split.X if has_val else None,
            Y_val=val_split.Y if has_val else None,
            log_every=config.train.log_every,
            callback=on_epoch,
            divergence_factor=config.train.divergence_factor,
            engine=config.train.engine,
        )
    finally:
        if bar is not None:
            bar.close()

    # dlnet.plots's figures and their arguments: drawn as the run's end is sent (dlnet.run_end)
    figures: list[tuple[str, tuple, dict[str, Any]]] = [
        (
            "loss_curve",
            (history.epochs, history.train_loss, history.val_loss if has_val else None, saved / "loss_curve.png"),
            {"title": name, "log_scale": config.tracking.loss_plot_scale == "log"},
        )
    ]
    if not history.diverged:
        shown, shown_split = ("val", val_split) if has_val else ("train", train_split)
        matrix = confusion(shown_split.Y, net.predict_proba(shown_split.X), config.model.threshold)
        figures.append(
            ("confusion_matrix_plot", (matrix, saved / "confusion_matrix.png"), {"title": f"{name} ({shown})"})
        )

    final: dict[str, float] = {"epochs_run": history.epochs_run, "time/train_seconds": history.seconds}
    if not history.diverged:
        threshold = config.model.threshold
        final["train/accuracy"] = classification_metrics(train_split.Y, net.predict_proba(train_split.X), threshold)[
            "accuracy"
        ]
        for part, split, present in (("val", val_split, has_val), ("test", test_split, has_test)):
            if present:
                scores = classification_metrics(split.Y, net.predict_proba(split.X), threshold)
                final.update({f"{part}/{key}": value for key, value in scores.items()})

    # Everything on disk first (the figures by the end): a store that fails from here on loses nothing.
    saved.mkdir(parents=True, exist_ok=True)
    results.write_history(saved, history.epochs, history.train_loss, history.val_loss if has_val else None)
    results.write_json(saved / "metrics.json", final)
    (saved / "config.yaml").write_text(redact(yaml.safe_dump(resolved, sort_keys=False)))
    if not history.diverged:  # a diverged net's weights may be NaN or inf: not worth keeping
        np.savez(saved / "weights.npz", allow_pickle=False, **net.params)  # TwoLayerNet(params=...) takes them back
    # the scaler read with the data, not data/scaled's file now: a rebuild may have replaced it
    (saved / "scaler.json").write_bytes(data.scaler_bytes)

    stopped = stop_reasons[-1] if history.stopped_early and not history.diverged else None
    tags: dict[str, Any] = {}
    if history.diverged:
        tags = {"dlnet.diverged_epoch": history.diverged_epoch}
    elif stopped:
        # Pruned: a deliberate stop, not a fault. The run stays FINISHED (KILLED means interrupted);
        # the tag makes it filterable: tags.`dlnet.pruned` = 'true'.
        tags = {"dlnet.pruned": "true", "dlnet.pruned_epoch": history.epochs_run, "dlnet.status_reason": stopped}
    end = run_end.RunEnd(
        uri=logger.uri,
        experiment_id=logger.experiment_id,
        run_id=logger.run_id,
        run_name=name,
        saved=saved,
        params=dict(logger.params),
        engine=history.engine,
        epochs_run=history.epochs_run,
        final={k: v for k, v in final.items() if np.isfinite(v)},
        figures=figures,
        tags=tags,
        failure=f"diverged: {history.reason}" if history.diverged else None,
        model=(
            None
            if history.diverged or stopped
            else run_end.ModelInputs(net.params, config, data.scaler_bytes, train_split.X[:, :3].copy())
        ),
    )
    return history, final, stopped, end


def log_model(
    uri: str,
    run_id: str,
    weights: dict[str, np.ndarray],
    config: Config,
    scaler_json: bytes,
    X_train: np.ndarray,
    *,
    step: int,
    metrics: dict[str, float],
    experiment_id: str | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """Package the trained weights (W1, b1, W2, b2) with the scaler they were trained behind (read with
    their data) as the run's model; `X_train`'s first three samples are its input example."""
    from dlnet import tracking_model
    from dlnet.data.scale import Scaler
    from dlnet.model import RawModel, dataset_range, raw_rows

    scaler = Scaler.from_dict(json.loads(scaler_json))
    model = RawModel(
        dataset=config.data.name,
        features=list(scaler.features),
        valid_range=dataset_range(config.data.name),
        scaler=scaler,
        params=weights,
        threshold=config.model.threshold,
        dtype=config.model.dtype,
        run_id=run_id,
    )
    example = raw_rows(model, X_train[:, :3])
    return tracking_model.log_model(
        uri, run_id, model, example, step=step, metrics=metrics, experiment_id=experiment_id, params=params
    )


def _without_password(uri: str) -> str:
    """The URI with any password taken out (user:secret@host -> user@host): it is written to disk."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}"))


def summary_line(result: JobResult) -> str:
    """One line per run: name, epochs, accuracies, time, MLflow run id."""
    m = result.metrics
    if result.status == "FAILED":
        outcome = f"DIVERGED ({result.reason})"
    else:
        accuracies = [f"{part} acc {m[f'{part}/accuracy']:.3f}" for part in ("val", "test") if f"{part}/accuracy" in m]
        outcome = ", ".join(accuracies) or f"train acc {m.get('train/accuracy', float('nan')):.3f}"
        outcome += f", PRUNED ({result.reason})" if result.pruned else ""
    return (
        f"[{result.run_name}] {result.epochs_run} epochs, {outcome}, "
        f"{m.get('time/train_seconds', 0.0):.2f} s, MLflow run {result.run_id}"
    )
