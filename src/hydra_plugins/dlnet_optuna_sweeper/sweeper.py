"""The Hydra Sweeper: an Optuna study driven with ask-and-tell, trials launched in batches.

    dlnet-train -m hydra/sweeper=optuna hydra.sweeper.n_trials=20 hydra.sweeper.sampler.seed=0

Each round asks the study for as many trials as the launcher runs at once (basic: 1, joblib:
its n_jobs, or hydra.sweeper.n_jobs), launches them through the configured launcher, and tells
the study each outcome: a value, PRUNED (the job stopped because the pruner said so) or FAIL.
Optuna is imported only in `sweep`: Hydra imports this module on every start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _quoted(text: str) -> str:
    """A string as a quoted Hydra override value (a URL holds characters the grammar reserves)."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def launcher_parallelism(launcher: Mapping[str, Any] | None) -> int:
    """How many jobs the launcher runs at once: joblib's n_jobs (-1: every core), else 1."""
    n_jobs = (launcher or {}).get("n_jobs")
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    cores = os.cpu_count() or 1
    return max(cores + 1 + n_jobs if n_jobs < 0 else n_jobs, 1)  # joblib: -2 is every core but one


class OptunaSweeper(Sweeper):
    """`hydra/sweeper=optuna`: see conf/hydra/sweeper/optuna.yaml for every setting."""

    def __init__(
        self,
        n_trials: int = 20,
        study_name: str = "dlnet",
        storage: str | None = None,
        direction: str = "minimize",
        objective: str = "val/loss",
        report_every: int = 1,
        n_jobs: int | None = None,
        sampler: Any = None,
        pruner: Any = None,
        params: Any = None,
        conditions: Any = None,
    ) -> None:
        self.n_trials = n_trials
        self.study_name = study_name
        self.storage = storage
        self.direction = direction
        self.objective = objective
        self.report_every = report_every
        self.n_jobs = n_jobs
        self.sampler = _plain(sampler)
        self.pruner = _plain(pruner)
        self.params = _plain(params) or {}
        self.conditions = _plain(conditions) or {}
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def batch_size(self) -> int:
        if self.n_jobs:
            return max(int(self.n_jobs), 1)
        return launcher_parallelism(_plain(self.config.hydra.launcher) if self.config is not None else None)

    def sweep(self, arguments: list[str]) -> Any:
        from . import _space as space
        from . import _study as studies

        assert self.config is not None and self.launcher is not None
        dimensions, fixed = space.parse_space(self.params, arguments, self.conditions)
        if int(self.n_trials) < 1:
            raise studies.SearchConfigError(f"hydra.sweeper.n_trials={self.n_trials!r}; expected an integer >= 1")
        url = studies.storage_url(self.storage)
        study = studies.open_study(str(self.study_name), url, str(self.direction), self.sampler, self.pruner)
        log.info("study %s in %s: %d trials so far", study.study_name, url, len(study.trials))

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns = []
        left, batch = int(self.n_trials), self.batch_size()
        while left > 0:
            trials = [study.ask() for _ in range(min(batch, left))]
            overrides = [self._overrides(trial, dimensions, fixed, url, study.study_name) for trial in trials]
            try:
                results = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            except BaseException:  # Ctrl-C, a launcher's error: the study keeps no trial RUNNING
                from optuna.trial import TrialState

                for trial in trials:
                    study.tell(trial, state=TrialState.FAIL)
                raise
            self.job_idx += len(results)
            self._tell(study, trials, results)
            returns.append(results)
            left -= len(trials)

        found = studies.summary(study)
        OmegaConf.save(
            OmegaConf.create({"name": "optuna", "study_name": study.study_name, "storage": url, **found}),
            sweep_dir / "optimization_results.yaml",
        )
        return returns

    def _overrides(self, trial: Any, dimensions: Sequence[Any], fixed: Sequence[str], url: str, name: str) -> list[str]:
        from ._space import override_value

        chosen: dict[str, Any] = {}
        for dimension in dimensions:
            if dimension.applies(chosen):
                chosen[dimension.key] = dimension.suggest(trial)
        # What the job needs to reach its trial travels in its own config, not the environment.
        return [
            *(f"{key}={override_value(value)}" for key, value in chosen.items()),
            *fixed,
            f"hydra.sweeper.storage={_quoted(url)}",
            f"hydra.sweeper.study_name={_quoted(name)}",
            f"+hydra.sweeper.trial={trial.number}",
        ]

    def _tell(self, study: Any, trials: Sequence[Any], results: Sequence[Any]) -> None:
        """Tell every outcome first, then raise a job's error: the study never keeps a RUNNING trial."""
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        from ._study import finite

        failed = []
        for trial, result in zip(trials, results, strict=True):
            if result.status != JobStatus.COMPLETED:
                study.tell(trial, state=TrialState.FAIL)
                failed.append(result)
                continue
            outcome = result.return_value
            if isinstance(outcome, Mapping):
                if outcome.get("pruned"):
                    study.tell(trial, state=TrialState.PRUNED)
                    continue
                outcome = outcome.get("value")
            if finite(outcome):
                study.tell(trial, float(outcome))
            else:  # a diverged run has no objective: a failed trial, and the sweep goes on
                study.tell(trial, state=TrialState.FAIL)
        for result in failed:
            _ = result.return_value  # raises the job's own error
