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
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from dlnet.sweep import PARENT_RUN_ENV, SWEPT_KEYS_ENV, TRACKING_URI_ENV

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")

# The sweep folder's name carries the controller's process id (see conf/config.yaml);
# cached, so joblib's workers resolve the same folder.
if not OmegaConf.has_resolver("dlnet.pid"):
    OmegaConf.register_new_resolver("dlnet.pid", lambda: os.getpid(), use_cache=True)


def task(cfg: DictConfig) -> float:
    """One job: train and track; return the validation accuracy (what a sweeper maximises)."""
    from hydra.core.hydra_config import HydraConfig

    from dlnet.job import INPUT_ERRORS, run_job
    from dlnet.lineage import project_root

    hydra_cfg = HydraConfig.get()
    parent = os.environ.get(PARENT_RUN_ENV) if hydra_cfg.mode.name == "MULTIRUN" else None
    swept = [k for k in os.environ.get(SWEPT_KEYS_ENV, "").split(",") if k] if parent else []
    container = OmegaConf.to_container(cfg, resolve=True)
    if parent and os.environ.get(TRACKING_URI_ENV):
        container["tracking"]["uri"] = os.environ[TRACKING_URI_ENV]
    try:
        result = run_job(
            container, root=project_root(), source="hydra", parent_run_id=parent, swept=swept,
            progress=None if parent is None else False,
            extra_tags={"hydra.output_dir": hydra_cfg.runtime.output_dir},
        )
    except INPUT_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return result.metrics.get("val/accuracy", math.nan)


_app = hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")(task)


def main() -> None:
    """Console entry: run the Hydra app; a Ctrl-C or an early exit never leaves a sweep RUNNING."""
    try:
        _app()
    except KeyboardInterrupt:
        _end_open_sweep("KILLED")
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            _end_open_sweep("FAILED")
        raise


def _end_open_sweep(status: str) -> None:
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    uri = os.environ.get(TRACKING_URI_ENV)
    if parent and uri:
        from dlnet import tracking

        tracking.end_parent_run(uri, parent, status)


if __name__ == "__main__":
    main()
