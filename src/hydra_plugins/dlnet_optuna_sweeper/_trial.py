"""The job's side of a trial: report the objective as it trains, and stop when the pruner says so.

The sweeper gives each job, in its own overrides, the study's storage URL, its name and the
trial's number (`hydra.sweeper.storage`, `.study_name`, `.trial`): they travel with the job's
config to whatever process or machine runs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Objectives a job knows at every logged epoch, so it can report them to the pruner.
HISTORY_OBJECTIVES = ("val/loss", "train/loss")


def trial_number(sweeper: Mapping[str, Any] | None) -> int | None:
    """The trial this job runs, when an Optuna study launched it."""
    if not sweeper or sweeper.get("trial") is None:
        return None
    return int(sweeper["trial"])


class TrialReporter:
    """Reports one objective at every `every`-th logged epoch; says when the trial is pruned.

    Called with (epoch, value); returns a reason (a string) once the pruner says stop, else None.
    """

    def __init__(self, sweeper: Mapping[str, Any]):
        import optuna

        from ._study import make_pruner, open_storage, quiet_optuna

        self.objective = str(sweeper.get("objective", "val/loss"))
        self.every = max(int(sweeper.get("report_every") or 1), 1)
        self.number = trial_number(sweeper)
        pruner = dict(sweeper.get("pruner") or {"name": "none"})
        self.pruner_name = str(pruner.get("name", "none"))
        name = str(sweeper["study_name"])
        quiet_optuna()
        storage = open_storage(str(sweeper["storage"]))
        study = optuna.load_study(study_name=name, storage=storage, pruner=make_pruner(pruner))
        trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(name), self.number)
        self.trial = optuna.trial.Trial(study, trial_id)
        self.reports = 0
        self.pruned_epoch: int | None = None

    @property
    def prunes(self) -> bool:
        return self.objective in HISTORY_OBJECTIVES and self.pruner_name != "none"

    def __call__(self, epoch: int, value: float | None) -> str | None:
        if not self.prunes or epoch % self.every or value is None or not math.isfinite(value):
            return None
        self.trial.report(float(value), epoch)
        self.reports += 1
        if not self.trial.should_prune():
            return None
        self.pruned_epoch = epoch
        return f"pruned at epoch {epoch} by the {self.pruner_name} pruner ({self.objective} {value:.4g})"
