"""The study: where it lives, how it samples and prunes, and what it found.

A study lives in an Optuna storage (a database URL). The sweep's controller creates it before
any trial starts; every job reaches it through the same URL, so a job may run in another
process (joblib) or on another machine (a database server) and still report to it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

DEFAULT_STORAGE_FILE = "optuna.db"
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler"}
PRUNERS = {"median": "MedianPruner", "successive_halving": "SuccessiveHalvingPruner", "none": "NopPruner"}
Direction = Literal["minimize", "maximize"]
DIRECTIONS: tuple[Direction, ...] = ("minimize", "maximize")


class SearchConfigError(ValueError):
    """A `hydra.sweeper.*` setting is wrong; the message names it."""


def storage_url(storage: str | None) -> str:
    """The study's database: `storage` if set, else optuna.db at the project root."""
    if storage:
        return str(storage)
    from dlnet.lineage import project_root

    return f"sqlite:///{(project_root() / DEFAULT_STORAGE_FILE).resolve()}"


def open_storage(url: str) -> Any:
    import optuna

    engine_kwargs = {}
    if url.startswith("sqlite:"):
        # Parallel workers write to one SQLite file: wait for its lock rather than fail at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def _build(kind: str, table: Mapping[str, str], node: Mapping[str, Any] | None, module: Any, **extra: Any) -> Any:
    options = dict(node or {})
    name = options.pop("name", next(iter(table)) if kind == "sampler" else "none")
    if name not in table:
        raise SearchConfigError(
            f"hydra.sweeper.{kind}.name={name!r} is not allowed; expected one of: {', '.join(table)}"
        )
    options.update({k: v for k, v in extra.items() if k in options})
    try:
        return getattr(module, table[name])(**options)
    except (TypeError, ValueError) as error:
        raise SearchConfigError(f"hydra.sweeper.{kind} ({name}): {error}") from None


def make_sampler(node: Mapping[str, Any] | None, *, trials_before: int = 0) -> Any:
    """The sampler. A seeded one is re-seeded with seed + trials already in the study: a fresh
    study is reproducible, and a resumed one does not replay its first suggestions."""
    import optuna

    seed = (node or {}).get("seed")
    return _build("sampler", SAMPLERS, node, optuna.samplers, seed=None if seed is None else int(seed) + trials_before)


def make_pruner(node: Mapping[str, Any] | None) -> Any:
    import optuna

    return _build("pruner", PRUNERS, node, optuna.pruners)


def check_direction(direction: Any) -> Direction:
    if direction not in DIRECTIONS:
        raise SearchConfigError(
            f"hydra.sweeper.direction={direction!r} is not allowed; expected one of: {', '.join(DIRECTIONS)}"
        )
    return direction


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the jobs print their own line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def open_study(name: str, url: str, direction: str, sampler: Mapping | None, pruner: Mapping | None) -> Any:
    """Create the study, or load it to add trials; its direction must be the one asked for."""
    import optuna

    quiet_optuna()
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(url),
        direction=check_direction(direction),
        pruner=make_pruner(pruner),
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise SearchConfigError(
            f"study {name!r} in {url} exists with direction {study.direction.name.lower()}, not {direction}: "
            "choose another hydra.sweeper.study_name"
        )
    study.sampler = make_sampler(sampler, trials_before=len(study.trials))
    return study


def summary(study: Any) -> dict[str, Any]:
    """Counts of the study's trials by state, and its best trial (None before any completed)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {
        state.name.lower(): sum(t.state == state for t in trials)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    best = None
    if counts["complete"]:
        trial = study.best_trial
        best = {"number": trial.number, "value": trial.value, "params": dict(trial.params)}
    return {"trials": len(trials), **counts, "best": best}


def plots(study: Any, folder: Path) -> list[Path]:
    """The optimisation history, parameter importances and slice plots as PNGs (what can be drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    # Categories that look like numbers (batch sizes) are plotted as categories, on purpose.
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as views

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    # (file, drawing function, completed trials it needs)
    wanted: list[tuple[str, Callable[[Any], Axes | np.ndarray], int]] = []
    wanted.append(("study_history.png", views.plot_optimization_history, 1))
    # Importances need two completed trials and a parameter that varied among them.
    varied = {k for t in complete for k in t.params if len({str(u.params.get(k)) for u in complete}) > 1}
    if varied:
        wanted.append(("study_importances.png", views.plot_param_importances, 2))
    wanted.append(("study_slices.png", views.plot_slice, 1))
    written = []
    for name, draw, needed in wanted:
        if len(complete) < needed:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw(study)
        first = axes.flat[0] if hasattr(axes, "flat") else axes
        figure = first.figure
        assert isinstance(figure, Figure)  # optuna draws on a figure of its own, not a subfigure
        figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 4.5))
        path = folder / name
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
