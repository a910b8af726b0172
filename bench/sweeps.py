"""Section 4, sweeps: a 12-run Hydra grid with the basic launcher and with the joblib launcher,
and `make sweep` itself (the 27-run preset, 500 epochs, basic launcher) with train.engine=auto
beside train.engine=numpy (the engine every run used before the compiled one).

    dlnet-train -m optim.lr=0.01,0.07 model.hidden_units=15,64 batch=full,mini,stochastic
                train.epochs=N [hydra/launcher=joblib hydra.launcher.n_jobs=2]

run for real in a built project copy, each sweep with a fresh SQLite store and its own sweep folder.
The wall time of the whole command (start-up, the parent run, every job, the sweep's report) is
set against the sum of the runs' own training times, read back from the store
(`time/train_seconds` of every child run). The two launchers take turns. Each store is created
(schema and experiment) just before its sweep, untimed, as it is once in a store's life.
"""

from __future__ import annotations

import time
from typing import Any

from bench import measure
from bench.project import Workspace, run_tool, sqlite_uri, tool

REAL = {
    "grid": ["optim.lr=0.01,0.07", "model.hidden_units=15,64", "batch=full,mini,stochastic"],
    "runs": 12,
    "epochs": 300,
    "repeats": 3,
    "n_jobs": 2,
    "launchers": ("basic", "joblib", "ray"),
    "make_sweep": {"runs": 27, "repeats": 2, "engines": ("auto", "numpy")},
}
# Two runs with the basic launcher only: the joblib workers' start-up alone would take most of
# the smoke run's time budget.
SMOKE = {
    "grid": ["optim.lr=0.07", "model.hidden_units=15", "batch=full,mini"],
    "runs": 2,
    "epochs": 3,
    "repeats": 1,
    "n_jobs": 2,
    "launchers": ("basic",),
    "make_sweep": None,
}


def _children(uri: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(experiments, max_results=1000)
    return [r for r in found if "time/train_seconds" in r.data.metrics]


def _error_line(stderr: str) -> str:
    """The exception line of a failed command's stderr (its last line naming an Error or Exception)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith((" ", "\t", "("))]
    named = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return ((named or lines or ["(no output)"])[-1])[:400]


def sweep(workspace: Workspace, launcher: str, settings: dict[str, Any], index: int) -> dict[str, Any]:
    """One timed sweep. A sweep that fails is run once more in a fresh folder and store, and its
    error kept in the record: a benchmark is no place to hide a failure, nor to stop at one."""
    failures: list[str] = []
    for attempt in range(2):
        record, error = _sweep_once(workspace, launcher, settings, f"{index}-{attempt}")
        if record is not None:
            record["failed_attempts"] = failures
            return record
        failures.append(error)
    raise RuntimeError(f"the {launcher} sweep failed twice: {' | '.join(failures)}")


def _sweep_once(workspace: Workspace, launcher: str, settings: dict[str, Any], tag: str):
    args = ["-m", *settings["grid"], f"train.epochs={settings['epochs']}"]
    if launcher == "joblib":
        args += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={settings['n_jobs']}"]
    if launcher == "ray":  # a local Ray, started and stopped by the sweep, with as many CPUs as joblib's jobs
        args += ["hydra/launcher=ray", f"+hydra.launcher.ray.init.num_cpus={settings['n_jobs']}"]
    return _timed_sweep(workspace, f"sweep-{launcher}-{tag}", args, settings["runs"])


def make_sweep(workspace: Workspace, engine: str, runs: int, index: int) -> dict[str, Any]:
    """`make sweep` (dlnet-train +sweep=grid) with train.engine=`engine`; once more if it fails."""
    failures: list[str] = []
    for attempt in range(2):
        record, error = _timed_sweep(
            workspace, f"make-sweep-{engine}-{index}-{attempt}", ["+sweep=grid", f"train.engine={engine}"], runs
        )
        if record is not None:
            record["failed_attempts"] = failures
            return record
        failures.append(error)
    raise RuntimeError(f"make sweep with train.engine={engine} failed twice: {' | '.join(failures)}")


def _timed_sweep(workspace: Workspace, name: str, overrides: list[str], runs: int):
    project = workspace.built_project()
    folder = workspace.path / name
    folder.mkdir()
    uri = sqlite_uri(folder / "mlflow.db")
    args = [tool("dlnet-train"), *overrides, f"tracking.uri={uri}", f"hydra.sweep.dir={folder / 'multirun'}"]
    # The store's schema is made once in a store's life, not per sweep: made here, untimed.
    from dlnet import tracking

    start = time.perf_counter()
    tracking.ensure_experiment(uri, "dlnet")
    store_seconds = time.perf_counter() - start
    started_at = time.time()
    start = time.perf_counter()
    done = run_tool(args, project, timeout=1800)
    wall = time.perf_counter() - start
    ended_at = time.time()
    if done.returncode != 0:
        return None, f"exit {done.returncode}: {_error_line(done.stderr)}"
    children = _children(uri)
    if len(children) != runs:
        return None, f"recorded {len(children)} runs, expected {runs}"
    train = [r.data.metrics["time/train_seconds"] for r in children]
    # Where the time went, from the runs' own start and end times in the store (milliseconds).
    starts = [r.info.start_time / 1000 for r in children]
    ends = [r.info.end_time / 1000 for r in children]
    in_runs = sum(e - s for s, e in zip(starts, ends, strict=True))
    return {
        "wall_s": wall,
        "train_sum_s": sum(train),
        "runs": len(children),
        "finished": sum(r.info.status == "FINISHED" for r in children),
        "slowest_run_s": max(train),
        "store_create_s": store_seconds,
        # start-up: from the command's start to its first MLflow run (imports, config checks, parent run)
        "before_first_run_s": min(starts) - started_at,
        # inside the runs, beyond training: params, dataset, final metrics, plots, artifacts (summed:
        # overlapping where runs overlap, as a run's end sent while the next run trains)
        "in_runs_beyond_training_s": in_runs - sum(train),
        # from the first run's start to the last run's end
        "runs_span_s": max(ends) - min(starts),
        # after the last run: the sweep's report, and the process's exit
        "after_last_run_s": ended_at - max(ends),
    }, None


def run(workspace: Workspace, smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    records: dict[str, list[dict[str, Any]]] = {launcher: [] for launcher in settings["launchers"]}

    def contender(launcher: str):
        def go():
            record = sweep(workspace, launcher, settings, len(records[launcher]))
            records[launcher].append(record)
            return record

        return go

    workspace.built_project()
    measure.interleave({launcher: contender(launcher) for launcher in records}, settings["repeats"], warmup=0)
    out: dict[str, Any] = {"settings": settings, "grid": settings["grid"], "runs": settings["runs"]}
    for launcher, recs in records.items():
        out[launcher] = {key: measure.summary([r[key] for r in recs]) for key in KEYS}
        out[launcher]["sweeps"] = recs
    if settings.get("make_sweep"):
        out["make_sweep"] = _make_sweeps(workspace, settings["make_sweep"])
    basic = out["basic"]
    out["basic_over_train_sum"] = basic["wall_s"]["median"] / basic["train_sum_s"]["median"]
    out["basic_limit_s"] = 1.2 * basic["train_sum_s"]["median"] + 5.0
    if "joblib" in out:
        joblib = out["joblib"]
        out["joblib_speedup"] = basic["wall_s"]["median"] / joblib["wall_s"]["median"]
        # The best two workers could do: half the sum of the runs, or the slowest run if longer.
        out["joblib_ideal_s"] = max(
            joblib["train_sum_s"]["median"] / settings["n_jobs"], max(r["slowest_run_s"] for r in records["joblib"])
        )
    if "ray" in out and "joblib" in out:
        out["ray_over_joblib"] = out["ray"]["wall_s"]["median"] / out["joblib"]["wall_s"]["median"]
    return out


KEYS = (
    "wall_s",
    "train_sum_s",
    "before_first_run_s",
    "in_runs_beyond_training_s",
    "runs_span_s",
    "after_last_run_s",
)


def _make_sweeps(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """`make sweep` with each engine, in turns."""
    records: dict[str, list[dict[str, Any]]] = {engine: [] for engine in settings["engines"]}

    def contender(engine: str):
        def go():
            record = make_sweep(workspace, engine, settings["runs"], len(records[engine]))
            records[engine].append(record)
            return record

        return go

    measure.interleave({engine: contender(engine) for engine in records}, settings["repeats"], warmup=0)
    out: dict[str, Any] = {"settings": settings}
    for engine, recs in records.items():
        out[engine] = {key: measure.summary([r[key] for r in recs]) for key in KEYS}
        out[engine]["sweeps"] = recs
    return out
