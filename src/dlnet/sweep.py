"""The Hydra callback that wraps a multirun in one parent MLflow run.

In the sweep's controller, before any job starts, it checks every job's config,
creates the store and the experiment (a fresh SQLite store opened by several
workers at once breaks for good) and opens the parent run. What a job needs from
the controller (the parent run id, the swept keys, the tracking URI) travels inside
the job's own config, as `hydra.job.env_set` overrides: Hydra sets them in the job's
process, wherever a launcher runs it (this process, a joblib worker, a Ray node).
At the end it prints the table of runs and logs the sweep's plots on the parent run.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dlnet import compose_once, drawing, ui_views
from dlnet.compose_once import ComposeOnce
from dlnet.shipping import DATA_RUN_ENV
from dlnet.uris import TrackingError, TrackingUnreachableError, portable_params, redact

PARENT_RUN_ENV = "DLNET_PARENT_RUN_ID"
SWEPT_KEYS_ENV = "DLNET_SWEPT_KEYS"
TRACKING_URI_ENV = "DLNET_SWEEP_TRACKING_URI"
LOST_REASON = "lost: its worker (the job's process or its Ray node) died before the run ended"
# Launchers whose jobs run on this machine, in the project: nothing needs shipping.
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")
# Hydra's basic launcher runs the jobs one after another in the sweep's own process.
IN_PROCESS_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
SHORT_KEYS = {"optim.lr": "lr", "model.hidden_units": "h", "batch": "batch"}


class SweepError(RuntimeError):
    """A job of the sweep would fail before training: nothing was started."""


def sweep_jobs(config: DictConfig) -> tuple[list[str], list[list[str]]]:
    """The swept keys and every job's overrides, as Hydra's basic sweeper will expand them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    preset = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in preset.items()] + list(config.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    swept = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    (jobs,) = BasicSweeper.split_arguments(overrides, None)
    return swept, jobs


def _describe(swept: list[str], jobs: list[list[str]]) -> str:
    values = {
        key: sorted({o.split("=", 1)[1] for job in jobs for o in job if o.split("=", 1)[0] == key}) for key in swept
    }
    shape = " × ".join(f"{SHORT_KEYS.get(k, k)}({len(v)})" for k, v in values.items()) or "1 job"
    return f"sweep {shape} = {len(jobs)} runs"


def fixed_and_varying(composed: list[dict[str, Any]], swept: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The flattened params every job shares (with their values), and the keys whose values differ.

    The varying keys come in the order they were swept (`batch` stands for `batch.name`, `batch.size`).
    """
    from dlnet.config import flatten

    flats = [flatten(cfg) for cfg in composed]
    keys = list(flats[0]) if flats else []
    varying = [key for key in keys if any(flat.get(key) != flats[0][key] for flat in flats[1:])]
    fixed = {key: flats[0][key] for key in keys if key not in varying}

    def sweep_order(key: str) -> int:
        return next((i for i, s in enumerate(swept) if key == s or key.startswith(f"{s}.")), len(swept))

    return fixed, sorted(varying, key=sweep_order)


# Short names for fixed values in a sweep's view name: `epochs=200`.
FIXED_SHORT = {"train.epochs": "epochs", "train.seed": "seed", "optim.lr": "lr", "model.hidden_units": "h"}


def view_name(name: str, fixed: dict[str, Any], defaults: dict[str, Any], started: datetime) -> str:
    """When and what: `2026-05-14 10:32:05 · sweep lr(3) × h(3) = 9 runs · epochs=200 batch.name=mini`.

    Fixed values that differ from the configuration's defaults are named (where the store is, is not).
    """
    changed = [
        f"{FIXED_SHORT.get(key, key)}={value}"
        for key, value in fixed.items()
        if not key.startswith("tracking.") and key in defaults and defaults[key] != value
    ]
    return " · ".join([f"{started:%Y-%m-%d %H:%M:%S}", name, *([" ".join(changed)] if changed else [])])


def check_jobs(master: DictConfig, jobs: list[list[str]], composer: ComposeOnce | None = None) -> list[dict[str, Any]]:
    """Compose and validate every job's config (and its data) before the first one starts.

    `master` is the sweep's config; `composer` composes each job as Hydra will launch it
    (dlnet.compose_once: once per set of group choices), so the launch reuses its compositions.
    """
    from omegaconf import open_dict

    from dlnet.config import validate
    from dlnet.job import INPUT_ERRORS, check_data
    from dlnet.lineage import project_root

    if composer is None:
        composer = ComposeOnce(cast(ConfigLoaderImpl, GlobalHydra.instance().config_loader()))
    composed = []
    for overrides in jobs:
        job_cfg = composer.load_sweep_config(master, overrides)
        with open_dict(job_cfg):  # what the job sees: Hydra's run_job takes its hydra node away
            del job_cfg["hydra"]
        cfg = cast(dict[str, Any], OmegaConf.to_container(job_cfg, resolve=True))
        try:
            check_data(project_root(), validate(cfg))
        except INPUT_ERRORS as error:
            raise SweepError(f"job {' '.join(overrides)}: {error}") from None
        composed.append(cfg)
    return composed


class MlflowSweep(Callback):
    """Parent run per multirun; one child run per job (created by the job itself)."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.study: dict[str, Any] | None = None  # the sweeper's settings when the multirun is an Optuna study
        self.uri: str | None = None
        self.experiment_id: str | None = None
        self.name = ""
        self.swept: list[str] = []
        self.register = True  # tracking.register: the best run becomes dlnet-<data set>@champion
        self.view_name = ""
        self.varying: list[str] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.launcher._target_") == IN_PROCESS_LAUNCHER:
            drawing.start()  # the jobs run in this process: their figures are drawn beside them
        # Hydra turns a callback's exception into a warning and goes on with the jobs;
        # a sweep that cannot be set up must stop here instead, before any job starts.
        started = False
        try:
            self._start(config)
            started = True
        except SweepError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except TrackingUnreachableError as error:
            from dlnet import exits

            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(exits.TRACKING_FAILED) from None
        except Exception as error:
            print(
                f"error: the sweep could not be set up: {type(error).__name__}: {redact(str(error))}", file=sys.stderr
            )
            raise SystemExit(1) from None
        finally:
            if not started:
                drawing.stop()

    def _start(self, config: DictConfig) -> None:
        from dlnet import search, tracking
        from dlnet.lineage import project_root

        # Hydra composes every job again to launch it (twice with the basic sweeper): from here on
        # it reuses the compositions of the check, one per set of group choices.
        composer = compose_once.install(GlobalHydra.instance().config_loader())
        if search.is_search(config):
            # A study's trials are not known in advance: check the corners of its search space instead.
            swept, jobs, self.study = search.plan(config)
            composed = check_corners(config, jobs, composer)
        else:
            swept, jobs = sweep_jobs(config)
            composed = check_jobs(config, jobs, composer)
        tracking_cfg = composed[0]["tracking"]
        self.register = bool(tracking_cfg.get("register", True))
        self.uri = tracking.store_uri(project_root(), tracking_cfg.get("uri"))
        tracking.check_reachable(self.uri)
        self.experiment_id = tracking.ensure_experiment(self.uri, tracking_cfg["experiment"])
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        name = self.name = search.describe(self.study, swept) if self.study else _describe(swept, jobs)
        self.swept = swept
        study_tags = (
            {
                "dlnet.sweep.jobs": self.study["n_trials"],
                "dlnet.study.name": self.study["study_name"],
                "dlnet.study.storage": search.storage_of(self.study),
            }
            if self.study
            else {}
        )
        fixed, self.varying = fixed_and_varying(composed, swept)
        # As a job's params: passwords masked, this machine's paths kept as tags only.
        fixed, local_tags = portable_params(fixed, project_root())
        defaults = self._defaults(config.hydra.job.config_name)
        self.view_name = view_name(name, fixed, defaults, datetime.now())
        self.parent_run_id = tracking.start_parent_run(
            self.uri,
            self.experiment_id,
            name,
            tags={
                "dlnet.sweep": "parent",
                "dlnet.sweep.keys": ", ".join(swept),
                "dlnet.sweep.jobs": len(jobs),
                "dlnet.sweep.dir": sweep_dir,
                "dlnet.sweep.launcher": config.hydra.launcher.get("_target_", "basic").rsplit(".", 1)[-1],
                "source": "hydra-multirun",
                **study_tags,
                **local_tags,
            },
        )
        # The parent carries what every run of the sweep shares, and what was swept.
        tracking.parent_logger(self.uri, self.parent_run_id).log_params({**fixed, "sweep.keys": ", ".join(swept)})
        for_jobs = {
            PARENT_RUN_ENV: self.parent_run_id,
            SWEPT_KEYS_ENV: ",".join(swept),
            TRACKING_URI_ENV: self.uri,
            tracking.TRACKING_URI_ENV: self.uri,
        }
        os.environ.update({PARENT_RUN_ENV: self.parent_run_id, TRACKING_URI_ENV: self.uri})  # for cli's Ctrl-C
        launcher = config.hydra.launcher.get("_target_", "")
        if not launcher.endswith(LOCAL_LAUNCHERS):
            # Jobs may run where there is no checkout: their data travels with them.
            from dlnet.config import validate
            from dlnet.job import data_dir
            from dlnet.shipping import ship

            ship(self.uri, self.parent_run_id, project_root(), [data_dir(validate(cfg)) for cfg in composed])
            for_jobs[DATA_RUN_ENV] = self.parent_run_id
        send_with_jobs(config, for_jobs)
        print(f"{name}: MLflow parent run {self.parent_run_id}, outputs in {sweep_dir}", flush=True)
        from dlnet.cli import settle_heap

        settle_heap()

    @staticmethod
    def _defaults(config_name: str) -> dict[str, Any]:
        from hydra import compose

        from dlnet.config import flatten

        composed = OmegaConf.to_container(compose(config_name=config_name, overrides=[]), resolve=True)
        return flatten(cast(dict[str, Any], composed))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        uri, experiment_id, parent_run_id = self.uri, self.experiment_id, self.parent_run_id
        if parent_run_id is None or uri is None or experiment_id is None:
            return
        from dlnet import run_end, tracking

        try:
            run_end.wait()  # the last runs' ends, sent by the worker
        except Exception as error:
            from dlnet import exits

            print(f"error: {redact(str(error))}", file=sys.stderr)
            raise SystemExit(exits.TRACKING_FAILED if isinstance(error, TrackingError) else 1) from None
        try:
            # Every job has returned: a child still RUNNING lost its process or its Ray node.
            tracking.end_running_children(uri, parent_run_id, "FAILED", LOST_REASON)
            lost = lost_runs(uri, experiment_id, parent_run_id)
            rows, curves = collect(uri, experiment_id, parent_run_id)
            champions = crown(uri, parent_run_id, rows, register=self.register)
            log_sweep_report(uri, parent_run_id, rows, curves, heatmap=self.study is None)
            drawing.stop(wait=False)  # nothing more to draw: it ends while the report is finished
            save_sweep_view(uri, experiment_id, parent_run_id, self.view_name, self.varying)
            save_runs_view(uri, experiment_id)
            print(report(rows, uri, experiment_id, parent_run_id, champions, lost=lost), flush=True)
            if self.study:
                from dlnet import search

                print(search.log_study(uri, parent_run_id, self.study, rows), flush=True)
        finally:
            drawing.stop()
            compose_once.uninstall(GlobalHydra.instance().config_loader())
            tracking.end_parent_run(uri, parent_run_id, "FINISHED")
            for key in (PARENT_RUN_ENV, SWEPT_KEYS_ENV, TRACKING_URI_ENV, DATA_RUN_ENV):
                os.environ.pop(key, None)
            self.parent_run_id = None
            self.study = None


# How a run ends when its worker died under it: ended by this controller at the sweep's end, or
# earlier by any run's start that found its process gone (dlnet.tracking.dead_run_reason).
LOST_REASONS = (LOST_REASON, "its process ended without ending the run", "no heartbeat from its process")


def lost_runs(uri: str, experiment_id: str, parent_run_id: str) -> list[str]:
    """The sweep's runs that ended FAILED because their worker (a process, a Ray node) was lost."""
    from dlnet import tracking

    return [
        found.info.run_id
        for found in tracking.child_runs(uri, experiment_id, parent_run_id)
        if found.info.status == "FAILED"
        and found.data.tags.get(tracking.STATUS_REASON_TAG, "").startswith(LOST_REASONS)
    ]


def send_with_jobs(config: DictConfig, values: dict[str, str]) -> None:
    """Make `values` part of every job's config: Hydra sets `hydra.job.env_set` in the job's process.

    Every launcher composes a job's config from the sweep's `hydra.overrides.hydra` plus the
    job's own overrides, and ships that config with the job; nothing is left behind in this
    process's environment for a remote job to miss.
    """
    from omegaconf import open_dict, read_write

    overrides = []
    for key, value in values.items():
        quoted = str(value).replace("'", "\\'")  # a quoted override value: only ' needs escaping
        overrides.append(f"++hydra.job.env_set.{key}='{quoted}'")
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra = list(config.hydra.overrides.hydra) + overrides


def check_corners(
    master: DictConfig,
    jobs: list[list[str]],
    composer: ComposeOnce | None = None,
) -> list[dict[str, Any]]:
    """check_jobs for a search space's corners: a corner Hydra cannot compose is a bad space too."""
    from hydra.errors import HydraException

    try:
        return check_jobs(master, jobs, composer)
    except HydraException as error:
        raise SweepError(f"search space: {str(error).splitlines()[0]}") from None


def _number(text: Any) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else value


def collect(uri: str, experiment_id: str, parent_run_id: str) -> tuple[list[dict], list[dict]]:
    """One row per child run (config, epochs, accuracies, time, status) and its val-loss curve."""
    from dlnet import tracking

    rows, curves = [], []
    for found in tracking.child_runs(uri, experiment_id, parent_run_id):
        run = tracking.run_summary(found)
        params, metrics = run["params"], run["metrics"]
        row = {
            "run": run["run"],
            "optim.lr": _number(params.get("optim.lr")),
            "model.hidden_units": _number(params.get("model.hidden_units")),
            "batch.name": params.get("batch.name"),
            "batch.size": _number(params.get("batch.size")),
            "epochs": int(metrics.get("epochs_run", 0)),
            "val/accuracy": metrics.get("val/accuracy", math.nan),
            "val/loss": metrics.get("val/loss", math.nan),
            "test/accuracy": metrics.get("test/accuracy", math.nan),
            "time/train_seconds": metrics.get("time/train_seconds", math.nan),
            "status": run["status"],
            "run_id": run["run_id"],
            "data.name": params.get("data.name"),
        }
        rows.append(row)
        history = tracking.metric_history(uri, run["run_id"], "val/loss")
        if "dlnet.trial" in run["tags"]:  # a study's trial: its number, final val loss, pruned or not
            row["trial"] = run["tags"]["dlnet.trial"]
            row["val/loss"] = max(history)[1] if history else math.nan
            if run["tags"].get("dlnet.pruned") == "true":
                row["status"] = "PRUNED"
        curves.append(
            {
                "name": run["run"],
                "epochs": [s for s, _ in history],
                "val_loss": [v for _, v in history],
                "status": run["status"],
            }
        )
    rows.sort(
        key=lambda r: (
            math.isnan(r["val/accuracy"]),
            -(r["val/accuracy"] if not math.isnan(r["val/accuracy"]) else 0),
            r["val/loss"] if not math.isnan(r["val/loss"]) else math.inf,
        )
    )
    return rows, curves


def log_sweep_report(uri: str, parent_run_id: str, rows: list[dict], curves: list[dict], heatmap: bool = True) -> None:
    """The sweep's plots and results table, as artifacts of the parent run."""
    from dlnet import tables, tracking

    with tempfile.TemporaryDirectory(prefix="dlnet-sweep-") as scratch:
        folder = Path(scratch)
        # The figures are drawn (dlnet.drawing) while the rest of the report is made and sent.
        figures = []
        if rows:
            overlay = folder / "sweep_val_loss.png"
            figures.append(drawing.draw("sweep_val_loss_overlay", curves, overlay, title="validation loss, every run"))
            if heatmap:  # a study's values are continuous: its slice plots show this instead
                heat = folder / "sweep_val_accuracy.png"
                figures.append(drawing.draw("sweep_accuracy_heatmaps", rows, heat, title="validation accuracy"))
        parent = tracking.parent_logger(uri, parent_run_id)
        finished = [r for r in rows if r["status"] == "FINISHED"]
        best = finished[0] if finished else None
        diverged = sum(r["status"] == "FAILED" for r in rows)
        summary = {"sweep/runs": len(rows), "sweep/finished": len(finished), "sweep/diverged": diverged}
        if best is not None and not math.isnan(best["val/accuracy"]):
            summary["sweep/best_val_accuracy"] = best["val/accuracy"]
            parent.set_tags({"dlnet.sweep.best_run": f"{best['run']} ({best['run_id']})"})
        parent.log_metrics(summary)
        if not rows:
            return
        table_files = tables.results_table(
            validation_only(rows), folder / "sweep_results.csv", folder / "sweep_results.md"
        )
        for path in [*(figure.wait() for figure in figures), *table_files]:
            parent.log_artifact(path)


def validation_only(rows: list[dict]) -> list[dict]:
    """The rows without their test metrics: runs are compared, and picked, on validation only."""
    return [{key: value for key, value in row.items() if not key.startswith("test/")} for row in rows]


def pick_champions(rows: list[dict]) -> dict[str, dict]:
    """The best FINISHED run of each data set: highest val/accuracy, then lowest val/loss.

    Never the test set: it is looked at once, for the champion alone. Runs without a validation
    accuracy (no validation part) cannot be champions.
    """
    best: dict[str, dict] = {}
    for row in rows:
        if row["status"] != "FINISHED" or not math.isfinite(row["val/accuracy"]):
            continue
        rank = (-row["val/accuracy"], row["val/loss"] if math.isfinite(row["val/loss"]) else math.inf)
        current = best.get(row["data.name"])
        if current is None or rank < current["rank"]:
            best[row["data.name"]] = {"rank": rank, "row": row}
    return {dataset: entry["row"] for dataset, entry in best.items()}


def crown(uri: str, parent_run_id: str, rows: list[dict], *, register: bool) -> dict[str, dict]:
    """Pick each data set's champion, tag it on the parent run and (if `register`) register it as
    `dlnet-<data set>` with the alias `champion`. Returns {data set: {row, name, version}}."""
    from dlnet import tracking, tracking_model

    champions = {}
    for dataset, row in pick_champions(rows).items():
        name = tracking_model.registered_name(dataset)
        version, error = None, None
        if register:
            try:
                version = tracking_model.register(uri, row["run_id"], name)
            except Exception as failure:  # the sweep's results stand; say why it is not registered
                error = f"{type(failure).__name__}: {failure}"
        champions[dataset] = {"row": row, "name": name, "version": version, "error": error}
        tags = {f"dlnet.sweep.champion.{dataset}": row["run_id"]}
        if version is not None:
            tags[f"dlnet.sweep.champion.{dataset}.registered"] = f"{name} version {version}"
        tracking.parent_logger(uri, parent_run_id).set_tags(tags)
    return champions


def champion_lines(champions: dict[str, dict]) -> list[str]:
    """What the sweep's summary says about each champion; its test accuracy is shown only here."""
    lines = []
    for dataset, champion in champions.items():
        row = champion["row"]
        test = row.get("test/accuracy", math.nan)
        lines.append(
            f"Champion ({dataset}): {row['run']} (run {row['run_id']}), best on validation: "
            f"val/accuracy {row['val/accuracy']:.3f}, val/loss {row['val/loss']:.4f}; "
            f"its test/accuracy: {test:.3f}."
        )
        if champion["version"] is not None:
            lines.append(
                f"  Registered as {champion['name']} version {champion['version']}, alias "
                f"champion: dlnet-predict models:/{champion['name']}@champion INPUT.csv"
            )
        elif champion["error"]:
            lines.append(f"  error: could not register it as {champion['name']}: {champion['error']}")
        else:
            lines.append("  Not registered (tracking.register=false).")
    return lines


def report(
    rows: list[dict],
    uri: str,
    experiment_id: str,
    parent_run_id: str,
    champions: dict[str, dict] | None = None,
    lost: list[str] | tuple[str, ...] = (),
) -> str:
    """The table printed at the end of a sweep, best validation accuracy first, and where to look.

    Every run shows its validation metrics; the test accuracy is shown for the champion alone.
    `lost`: the runs whose worker died under them (ended FAILED by the controller)."""
    import pandas as pd

    from dlnet.tables import markdown_table

    diverged = sum(r["status"] == "FAILED" and r["run_id"] not in lost for r in rows)
    best = next((r for r in rows if not math.isnan(r["val/accuracy"])), None)
    killed = sum(r["status"] == "KILLED" for r in rows)
    pruned = sum(r["status"] == "PRUNED" for r in rows)
    lost_names = {r["run"] for r in rows if r["run_id"] in lost}
    reran = sum(
        any(r["run"] == name and r["run_id"] not in lost and r["status"] != "RUNNING" for r in rows)
        for name in lost_names
    )
    columns = ["run", "epochs", "val/accuracy", "val/loss", "time/train_seconds", "status"]
    formats = {"val/accuracy": ".3f", "val/loss": ".4f", "time/train_seconds": ".2f"}
    if any("trial" in r for r in rows):  # a study: which trial each run was
        columns = ["trial", *columns]
    table = markdown_table(pd.DataFrame(rows, columns=columns), formats=formats) if rows else "(no runs)"
    lines = [
        "",
        f"Sweep finished: {len(rows)} runs, {len(rows) - diverged - killed - pruned - len(lost)} finished"
        + (f", {pruned} pruned" if pruned else "")
        + f", {diverged} diverged"
        + (f", {killed} interrupted" if killed else "")
        + (f", {len(lost)} lost with their worker ({reran} of those jobs ran again)" if lost else "")
        + ".",
        table,
        "",
        *champion_lines(champions or {}),
        f"MLflow: experiment {experiment_id}, parent run {parent_run_id} ({redact(uri)}).",
        f"Compare the runs in the UI: {ui_command(uri)}, then open the sweep's view",
        *sweep_addresses(ui_base(uri), experiment_id, parent_run_id, best["run_id"] if best else None),
    ]
    return "\n".join(lines)


def sweep_addresses(base: str, experiment_id: str, parent_run_id: str, best_run_id: str | None) -> list[str]:
    """Where to look in the UI: the sweep's runs table, its charts, and its best run."""
    view_id = ui_views.sweep_view_id(parent_run_id)
    lines = [
        f"  runs:     {ui_views.view_url(base, experiment_id, view_id)}",
        f"  charts:   {ui_views.view_url(base, experiment_id, view_id, charts=True)}",
    ]
    if best_run_id:
        lines.append(f"  best run: {ui_views.run_url(base, experiment_id, best_run_id)}")
    return lines


# The params the runs page always shows as columns; the keys any sweep swept are added.
RUNS_PAGE_PARAMS = ["optim.lr", "model.hidden_units", "batch.name", "train.epochs"]
# A swept config group (`batch=full,mini`) shows as the param that names its choice.
GROUP_COLUMNS = {"batch": "batch.name", "data": "data.name", "scale": "scale.method"}


def save_sweep_view(uri: str, experiment_id: str, parent_run_id: str, name: str, varying: list[str]) -> None:
    """Save the UI view comparing this sweep's runs on the experiment (the UI's "Views" menu).

    Its columns and parallel coordinates are the params whose values differ between the runs.
    """
    from dlnet import tracking

    params = [key for key in varying if key != "batch.size"] or varying  # batch.size follows batch.name
    state = ui_views.sweep_view_state(parent_run_id, params=params)
    key, value = ui_views.saved_view_tag(ui_views.sweep_view_id(parent_run_id), name, state)
    tracking.set_experiment_tag(uri, experiment_id, key, value)


def save_runs_view(uri: str, experiment_id: str) -> None:
    """Save the experiment's runs page as a view: every training run, with the params any sweep swept."""
    from dlnet import tracking

    params = list(RUNS_PAGE_PARAMS)
    for parent in tracking.sweep_parents(uri, experiment_id):
        for key in filter(None, (k.strip() for k in parent["params"].get("sweep.keys", "").split(","))):
            column = GROUP_COLUMNS.get(key, key)
            if "." in column and column not in params:
                params.append(column)
    state = ui_views.runs_view_state(params)
    key, value = ui_views.saved_view_tag(ui_views.RUNS_VIEW_ID, "dlnet: every training run", state)
    tracking.set_experiment_tag(uri, experiment_id, key, value)


def run_address(uri: str, experiment: str, run_id: str) -> str:
    """The line a single run ends with: where to see it in the UI."""
    from dlnet import tracking

    experiment_id = tracking.ensure_experiment(uri, experiment)
    return f"See it in the UI ({ui_command(uri)}): {ui_views.run_url(ui_base(uri), experiment_id, run_id)}"


def ui_base(uri: str) -> str:
    """Where the UI for this store answers: the server itself, or `make ui`'s default address."""
    return redact(uri).rstrip("/") if uri.startswith("http") else "http://127.0.0.1:5000"


def ui_command(uri: str) -> str:
    """How to open the UI on this store: `make ui` for the project's own, else mlflow ui with the URI."""
    from dlnet import tracking
    from dlnet.lineage import project_root

    if uri == tracking.local_store_uri(project_root()):
        return "`make ui`"
    if uri.startswith("http"):
        return "the tracking server"
    return f"`mlflow ui --backend-store-uri {redact(uri)}`"
