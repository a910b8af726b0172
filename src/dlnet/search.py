"""dlnet's side of an Optuna study (`hydra/sweeper=optuna`, src/hydra_plugins/dlnet_optuna_sweeper).

In the controller: check the search space before any trial (its keys exist, its bounds make
sense, and the configs at its corners compose and validate), and put the study's results on
the sweep's parent run. In a job: report the objective as it trains, stop when pruned, and
return the outcome the sweeper tells the study.
"""

from __future__ import annotations

import difflib
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

SWEEPER_TARGET = "hydra_plugins.dlnet_optuna_sweeper.sweeper.OptunaSweeper"
SHORT_KEYS = {"optim.lr": "lr", "model.hidden_units": "h", "batch": "batch", "batch.size": "bs"}
FINAL_OBJECTIVES = ("train/accuracy", *(f"val/{m}" for m in ("accuracy", "precision", "recall", "f1", "roc_auc")))


def is_search(config: DictConfig) -> bool:
    """Whether this multirun is an Optuna study rather than a grid."""
    return OmegaConf.select(config, "hydra.sweeper._target_", default=None) == SWEEPER_TARGET


def _sweeper(config: DictConfig) -> dict[str, Any]:
    return cast(dict[str, Any], OmegaConf.to_container(config.hydra.sweeper, resolve=True))


def _known(config: DictConfig, key: str) -> bool:
    """A key the config has (or a config group, such as `batch`), so an override can set it."""
    bare = key.lstrip("+~").split("@", 1)[0]
    if key.startswith("+") or bare in config.hydra.runtime.choices:
        return True
    return OmegaConf.select(config, bare, default=KeyError) is not KeyError


def _keys(config: DictConfig) -> list[str]:
    plain = cast(dict[str, Any], OmegaConf.to_container(config, resolve=False))
    plain.pop("hydra", None)
    from dlnet.config import flatten

    return [*flatten(plain), *config.hydra.runtime.choices]


def plan(config: DictConfig) -> tuple[list[str], list[list[str]], dict[str, Any]]:
    """Check the study's settings and search space; return the searched keys, the corner jobs to
    pre-check, and the settings. Raises SweepError naming the key; nothing is created."""
    from dlnet.sweep import SweepError
    from hydra_plugins.dlnet_optuna_sweeper import _space as space
    from hydra_plugins.dlnet_optuna_sweeper import _study as study
    from hydra_plugins.dlnet_optuna_sweeper._trial import HISTORY_OBJECTIVES

    settings = _sweeper(config)
    try:
        n_trials = settings.get("n_trials")
        if not isinstance(n_trials, int) or n_trials < 1:
            raise study.SearchConfigError(
                f"hydra.sweeper.n_trials={n_trials!r} is not allowed; expected an integer >= 1"
            )
        objective = settings.get("objective")
        if objective not in (*HISTORY_OBJECTIVES, *FINAL_OBJECTIVES):
            raise study.SearchConfigError(
                f"hydra.sweeper.objective={objective!r} is not allowed; expected one of: "
                f"{', '.join((*HISTORY_OBJECTIVES, *FINAL_OBJECTIVES))}"
            )
        study.check_direction(settings.get("direction"))
        study.make_sampler(settings.get("sampler"))
        study.make_pruner(settings.get("pruner"))
        dimensions, fixed = space.parse_space(
            settings.get("params"), list(config.hydra.overrides.task), settings.get("conditions")
        )
    except (space.SearchSpaceError, study.SearchConfigError) as error:
        raise SweepError(str(error)) from None
    if not dimensions:
        raise SweepError(
            "the search space is empty: give hydra.sweeper.params (or a sweep override such as "
            "optim.lr=tag(log,interval(0.001,1)))"
        )
    for dimension in dimensions:
        if not _known(config, dimension.key):
            near = difflib.get_close_matches(dimension.key, _keys(config), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise SweepError(f"search space: unknown key {dimension.key!r}: the config has no such key{hint}")
    jobs = [
        [*fixed, *(f"{k}={space.override_value(v)}" for k, v in corner.items())] for corner in space.corners(dimensions)
    ]
    return [d.key for d in dimensions], jobs, settings


def describe(settings: Mapping[str, Any], swept: list[str]) -> str:
    """The parent run's name: `study dlnet-original: 12 trials of lr × h × batch`."""
    keys = " × ".join(SHORT_KEYS.get(k, k) for k in swept)
    return f"study {settings['study_name']}: {settings['n_trials']} trials of {keys}"


def storage_of(settings: Mapping[str, Any]) -> str:
    from hydra_plugins.dlnet_optuna_sweeper._study import storage_url

    return storage_url(settings.get("storage"))


# --- in a job ------------------------------------------------------------------------------------


class TrialLink:
    """A job's link to its trial: the `on_history` hook for run_job, tags, and the outcome."""

    def __init__(self, sweeper: Mapping[str, Any]):
        from hydra_plugins.dlnet_optuna_sweeper._trial import TrialReporter

        self.reporter = TrialReporter(sweeper)
        self.objective = self.reporter.objective
        self.last: tuple[int, float, float | None] | None = None
        self.tags = {"dlnet.study": sweeper["study_name"], "dlnet.trial": self.reporter.number}

    def _value(self, point: tuple[int, float, float | None]) -> float | None:
        _, train_loss, val_loss = point
        return {"val/loss": val_loss, "train/loss": train_loss}.get(self.objective)

    def on_history(self, point: tuple[int, float, float | None]) -> str | None:
        self.last = point
        return self.reporter(point[0], self._value(point))

    def outcome(self, result: Any) -> dict[str, Any]:
        """What the sweeper tells the study: the objective (nan when there is none) and whether pruned."""
        value: float | None
        if result.status == "FAILED":
            value = math.nan
        elif self.objective in ("val/loss", "train/loss"):
            value = self._value(self.last) if self.last else None
        else:
            value = result.metrics.get(self.objective)
        value = math.nan if value is None else float(value)
        return {"value": value, "pruned": bool(result.pruned), "run_id": result.run_id}


def trial_link(sweeper: Mapping[str, Any] | None) -> TrialLink | None:
    """The job's trial, when an Optuna study launched it (its config carries hydra.sweeper.trial)."""
    from hydra_plugins.dlnet_optuna_sweeper._trial import trial_number

    plain = sweeper
    if isinstance(sweeper, DictConfig):
        plain = cast(dict[str, Any], OmegaConf.to_container(sweeper, resolve=True))
    return TrialLink(plain) if plain is not None and trial_number(plain) is not None else None


# --- at the end of a study -----------------------------------------------------------------------


def log_study(uri: str, parent_run_id: str, settings: Mapping[str, Any], rows: list[dict]) -> str:
    """Best params and value, counts and the study's plots on the parent run; return the lines to print."""
    from dlnet import tracking
    from hydra_plugins.dlnet_optuna_sweeper import _study as studies

    url = storage_of(settings)
    study = studies.open_study(settings["study_name"], url, settings["direction"], settings.get("sampler"), None)
    found = studies.summary(study)
    parent = tracking.parent_logger(uri, parent_run_id)
    objective = settings["objective"]
    parent.set_tags(
        {
            "dlnet.study.name": study.study_name,
            "dlnet.study.storage": url,
            "dlnet.study.objective": f"{settings['direction']} {objective}",
        }
    )
    metrics = {f"study/{k}": v for k, v in found.items() if k != "best"}
    metrics["sweep/pruned"] = sum(r["status"] == "PRUNED" for r in rows)
    lines = [
        f"Study {study.study_name} ({url}): {found['trials']} trials in all, {found['complete']} complete, "
        f"{found['pruned']} pruned, {found['fail']} failed."
    ]
    best = found["best"]
    if best is not None:
        metrics["study/best_value"] = best["value"]
        parent.log_params({f"best.{k}": v for k, v in best["params"].items()})
        by_trial = {r.get("trial"): r for r in rows}
        run = by_trial.get(str(best["number"]))
        parent.set_tags(
            {
                "dlnet.study.best_trial": best["number"],
                **({"dlnet.study.best_run": f"{run['run']} ({run['run_id']})"} if run else {}),
            }
        )
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(
            f"Best: trial {best['number']}, {objective} {best['value']:.4f}: {shown}"
            + (f" (run {run['run']}, {run['run_id']})" if run else " (an earlier command's trial)")
        )
    parent.log_metrics(metrics)
    with tempfile.TemporaryDirectory(prefix="dlnet-study-") as scratch:
        for path in studies.plots(study, Path(scratch)):
            parent.log_artifact(path)
    lines.append("Run the same command again to add trials to this study.")
    return "\n".join(lines)
