"""`dlnet-train`: the Hydra app. One run, or a sweep with `-m`.

    dlnet-train optim.lr=0.3 batch=mini
    dlnet-train -m optim.lr=0.01,0.07,0.3 model.hidden_units=4,15,64 batch=full,mini,stochastic

Heavy libraries (MLflow, scikit-learn, matplotlib) are imported only once a run
starts, so `dlnet-train --help` answers at once.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, cast

import hydra
from omegaconf import DictConfig, OmegaConf

from dlnet.sweep import PARENT_RUN_ENV, SWEPT_KEYS_ENV, TRACKING_URI_ENV

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
# conf/hydra/launcher/ray.yaml sets dlnet's defaults for the Ray launcher plugin, whose schema of
# the same name validates it (what we want); Hydra warns that this matching by name is deprecated.
warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema with the same name")

# The sweep folder's name carries the controller's process id (see conf/config.yaml);
# cached, so joblib's workers resolve the same folder.
if not OmegaConf.has_resolver("dlnet.pid"):
    OmegaConf.register_new_resolver("dlnet.pid", lambda: os.getpid(), use_cache=True)


# How the last single run ended (a sweep reports its runs in its table instead).
_single_run: dict[str, str] = {}


def task(cfg: DictConfig) -> Any:
    """One job: train and track; return the validation accuracy (what a sweeper maximises), or,
    in an Optuna study, the trial's outcome: its objective and whether it was pruned."""
    from hydra.core.hydra_config import HydraConfig

    from dlnet import exits
    from dlnet.config import validate
    from dlnet.data.errors import DataNotBuiltError
    from dlnet.job import INPUT_ERRORS, DataMismatchError, data_dir, run_job
    from dlnet.lineage import project_root
    from dlnet.shipping import DATA_RUN_ENV, fetch
    from dlnet.uris import TrackingError

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN"
    parent = os.environ.get(PARENT_RUN_ENV) if multirun else None
    swept = [k for k in os.environ.get(SWEPT_KEYS_ENV, "").split(",") if k] if parent else []
    container = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    trial = None
    if multirun and "trial" in hydra_cfg.sweeper:  # a trial of an Optuna study
        from dlnet.search import trial_link

        trial = trial_link(hydra_cfg.sweeper)
    # In a sweep the controller resolved the store once; its URI came with the job's config.
    uri = os.environ.get(TRACKING_URI_ENV) if parent else None
    options: dict[str, Any] = dict(
        root=project_root(),
        source="hydra",
        parent_run_id=parent,
        swept=swept,
        progress=None if parent is None else False,
        extra_tags={"hydra.output_dir": hydra_cfg.runtime.output_dir, **_where_tags(), **(trial.tags if trial else {})},
        output_dir=Path(hydra_cfg.runtime.output_dir),
        uri=uri,
        on_history=trial.on_history if trial else None,
    )
    try:
        try:
            result = run_job(container, **options)
        except (DataNotBuiltError, DataMismatchError):
            data_run = os.environ.get(DATA_RUN_ENV) if parent else None
            if not data_run:
                raise
            # No checkout here (a Ray node): train on the data the controller shipped with the job.
            assert uri is not None, "a sweep job has its store URI"
            folder = fetch(uri, data_run, data_dir(validate(container)))
            result = run_job(container, data_folder=folder, **options)
    except INPUT_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(exits.BAD_INPUT) from None
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(exits.TRACKING_FAILED) from None
    if parent is not None:  # the next job of this process starts on a settled heap
        settle_heap()
    if parent is None:
        _single_run["status"] = result.status
        from dlnet import tracking
        from dlnet.sweep import run_address

        uri = tracking.store_uri(project_root(), container["tracking"]["uri"])
        print(run_address(uri, container["tracking"]["experiment"], result.run_id), flush=True)
    if trial is not None:
        return trial.outcome(result)  # what the sweeper tells the study
    return result.metrics.get("val/accuracy", math.nan)


def settle_heap() -> None:
    """Set what this process holds now aside from the garbage collector's scans: after a sweep's setup,
    and after each of its jobs (what a job leaves, the modules and caches it loaded, stays).

    A sweep's process holds millions of long-lived objects (MLflow, SQLAlchemy, pandas, matplotlib);
    every collection scanned them all: 2-4 s of a 27-run sweep. The garbage goes first (a full
    collection, cheap once the rest is set aside), so nothing collectable is kept.
    """
    import gc

    gc.collect()
    gc.freeze()


def _where_tags() -> dict[str, str]:
    """Where the job ran: the dlnet package it imported (a checkout, or an installed wheel) and its Ray node."""
    import dlnet

    tags = {"dlnet.code": str(Path(dlnet.__file__).resolve().parent)}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        tags["ray.node_id"] = ray.get_runtime_context().get_node_id()
    return tags


_app = hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")(task)


def unknown_key(arguments: list[str]) -> str | None:
    """The first override naming a key the schema lacks, as one line with the closest valid keys.

    Hydra would answer `To append to your config use +optim.lrr=0.1`, which the schema then
    rejects: a typo deserves the key it meant. Groups (`batch=mini`), `hydra.*`, and explicit
    `+`/`~` overrides are Hydra's to judge.
    """
    import difflib

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from dlnet.config import Config, flatten

    schema = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.structured(Config)))
    keys = list(flatten(schema))
    groups = {*schema, "experiment", "sweep"}
    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except HydraException:
        return None  # Hydra reports a malformed override itself
    for override in overrides:
        key = override.key_or_group
        if override.is_add() or override.is_force_add() or override.is_delete():
            continue
        if key in keys or key in groups or key.startswith("hydra") or "/" in key:
            continue
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else "`dlnet-train --cfg job` lists the keys"
        return f"error: '{key}' is not a config key: {hint}"
    return None


def main() -> None:
    """Console entry: run the Hydra app; exit with the codes of dlnet.exits.

    SIGINT or SIGTERM, once or twice, to this process or its group, ends every run it started
    (KILLED, with the reason) and stops a sweep's worker processes: nothing is left RUNNING
    and no process is left behind. A mistyped key stops before Hydra, naming the key it meant.
    """
    from dlnet import exits

    wrong = unknown_key(sys.argv[1:])
    if wrong:
        print(wrong, file=sys.stderr)
        raise SystemExit(exits.BAD_INPUT)
    exits.stop_cleanly_on_signals()
    try:
        _app()
    except KeyboardInterrupt as interrupt:
        with exits.signals_held():
            _wait_for_run_ends()
            _stop_workers()
            _end_open_sweep("KILLED", f"the sweep was {exits.interrupt_reason(interrupt)}")
        print(exits.interrupt_reason(interrupt), file=sys.stderr)
        exits.ignore_stop_signals()
        raise SystemExit(exits.interrupt_code(interrupt)) from None
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            with exits.signals_held():
                _wait_for_run_ends()
                _stop_workers()
                _end_open_sweep("FAILED", f"the sweep stopped (exit code {exit_.code})")
        if exits.stopping():
            exits.ignore_stop_signals()
        raise
    if _single_run.get("status") == "FAILED":
        raise SystemExit(exits.DIVERGED)


def _wait_for_run_ends() -> None:
    """The runs whose ends the sweep's worker is sending (dlnet.run_end) end before it is stopped."""
    run_end = sys.modules.get("dlnet.run_end")  # not imported: nothing was handed off
    if run_end is None:
        return
    try:
        run_end.wait()
    except Exception as error:
        print(f"error: {error}", file=sys.stderr)


def _stop_workers(grace_seconds: float = 5.0) -> None:
    """Stop this process's children (a joblib sweep's workers, the figure worker): SIGTERM, then
    SIGKILL after a grace period.

    Resource trackers are left alone: multiprocessing's (and loky's) ignore SIGTERM by design, and
    each ends by itself once the processes holding its pipe (this one, the workers) are gone.
    Waiting for one cost every failed or interrupted sweep the whole grace period.
    """
    import psutil

    children = [child for child in psutil.Process().children(recursive=True) if not _is_resource_tracker(child)]
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace_seconds)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_seconds)


def _is_resource_tracker(process) -> bool:
    """Whether `process` is a multiprocessing or loky resource tracker (`...resource_tracker import main`)."""
    import psutil

    try:
        return any("resource_tracker" in part for part in process.cmdline())
    except psutil.Error:
        return False


def _end_open_sweep(status: str, reason: str) -> None:
    """End the sweep's parent and any child its stopped workers left RUNNING."""
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    uri = os.environ.get(TRACKING_URI_ENV)
    if parent and uri:
        from dlnet import tracking

        try:
            tracking.end_running_children(uri, parent, status, reason)
            tracking.end_parent_run(uri, parent, status, reason)
        except Exception as error:  # the store is gone: `dlnet-runs reap` ends them later
            print(f"warning: could not end the sweep's runs in {tracking.redact(uri)}: {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
