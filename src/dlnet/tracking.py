"""Everything dlnet says to MLflow. The only module that imports mlflow.

A store holds one experiment; a training run is an MLflow run (nested under a
sweep's parent run when it is part of a sweep). Metrics go in batches: one
`log_metric` call per epoch costs ~3 ms on SQLite, a batched point ~0.1 ms.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

# MLflow 3's UI opens an experiment in its GenAI view unless it is marked as a
# model-training one with this tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
PARENT_RUN_TAG = "mlflow.parentRunId"
METRICS_PER_CALL = 1000  # MLflow's limit for one log_batch call
PARAMS_PER_CALL = 100


def store_uri(root: Path, uri: str | None = None) -> str:
    """The tracking URI: `uri` if given, else the SQLite store at the project root (absolute)."""
    if uri:
        return uri
    return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store; the server decides otherwise."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store and the experiment if needed (once, before any worker starts); return its id.

    The experiment is marked as a model-training one, so the UI opens its runs table.
    """
    mlflow_client = client(uri)
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = mlflow_client.create_experiment(
            name, artifact_location=artifact_root(uri), tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}
        )
    else:
        experiment_id = experiment.experiment_id
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
            mlflow_client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    return experiment_id


def set_experiment_tag(uri: str, experiment_id: str, key: str, value: str) -> None:
    client(uri).set_experiment_tag(experiment_id, key, value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_param_value(value: Any) -> str:
    return "null" if value is None else str(value)


class RunLogger:
    """One MLflow run: params, tags, batched metric histories, artifacts, inputs."""

    def __init__(self, uri: str, run_id: str):
        self.uri = uri
        self.run_id = run_id
        self._client = client(uri)
        self._pending: list[Metric] = []
        self.failure: str | None = None  # set by `fail`: the run ends FAILED with this reason

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(key, _as_param_value(value)) for key, value in params.items()]
        for start in range(0, len(items), PARAMS_PER_CALL):
            self._client.log_batch(self.run_id, params=items[start : start + PARAMS_PER_CALL])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(key, str(value)) for key, value in tags.items()]
        for start in range(0, len(items), PARAMS_PER_CALL):
            self._client.log_batch(self.run_id, tags=items[start : start + PARAMS_PER_CALL])

    def add_points(self, step: int, values: Mapping[str, float | None]) -> None:
        """Queue one point per metric at `step`; sent once a full batch has gathered."""
        timestamp = _now_ms()
        for key, value in values.items():
            if value is not None:
                self._pending.append(Metric(key, float(value), timestamp, step))
        if len(self._pending) >= METRICS_PER_CALL:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), METRICS_PER_CALL):
            self._client.log_batch(self.run_id, metrics=pending[start : start + METRICS_PER_CALL])

    def log_metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        timestamp = _now_ms()
        self._pending.extend(Metric(k, float(v), timestamp, step) for k, v in values.items() if v is not None)
        self.flush()

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dataset(self, frame, *, name: str, source: str, digest: str, context: str, targets: str) -> None:
        """Record a data frame as an MLflow dataset input (name, digest, schema, source)."""
        with warnings.catch_warnings():
            # MLflow warns that a local path matches two identical source types, and that
            # integer columns cannot hold NaN; neither applies to a finished, validated split.
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(frame, source=source, targets=targets, name=name, digest=digest[:36])
            entity = dataset._to_mlflow_entity()
        inputs = [DatasetInput(entity, tags=[InputTag(key="mlflow.data.context", value=context)])]
        try:
            self._client.log_inputs(self.run_id, datasets=inputs)
        except MlflowException as error:
            # Two parallel sweep workers registering the same new dataset at once: one wins the
            # insert, the other hits the unique constraint. The dataset now exists: link to it.
            if "UNIQUE constraint" not in str(error):
                raise
            time.sleep(0.2)
            self._client.log_inputs(self.run_id, datasets=inputs)

    def fail(self, reason: str) -> None:
        """End the run FAILED (a diverged run) instead of FINISHED, saying why."""
        self.failure = reason


def _end(mlflow_client: MlflowClient, run_id: str, status: str) -> None:
    mlflow_client.set_terminated(run_id, status=status, end_time=_now_ms())


@contextmanager
def run(
    uri: str,
    experiment_id: str,
    run_name: str,
    *,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[RunLogger]:
    """Open a run; it ends FINISHED, FAILED (an error, or `fail`), or KILLED (Ctrl-C), never RUNNING."""
    mlflow_client = client(uri)
    all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    if parent_run_id:
        all_tags[PARENT_RUN_TAG] = parent_run_id
    created = mlflow_client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    logger = RunLogger(uri, created.info.run_id)
    try:
        yield logger
        logger.flush()
    except KeyboardInterrupt:
        _end_quietly(logger, RunStatus.to_string(RunStatus.KILLED), "interrupted (Ctrl-C)")
        raise
    except BaseException as error:
        _end_quietly(logger, RunStatus.to_string(RunStatus.FAILED), f"{type(error).__name__}: {error}")
        raise
    else:
        if logger.failure:
            logger.set_tags({"dlnet.status_reason": logger.failure})
            _end(mlflow_client, logger.run_id, RunStatus.to_string(RunStatus.FAILED))
        else:
            _end(mlflow_client, logger.run_id, RunStatus.to_string(RunStatus.FINISHED))


def _end_quietly(logger: RunLogger, status: str, reason: str) -> None:
    """Best effort on the way out: keep what was logged, record why, never leave it RUNNING."""
    try:
        logger.flush()
    except Exception:
        pass
    try:
        logger.set_tags({"dlnet.status_reason": reason[:5000]})
    except Exception:
        pass
    _end(logger._client, logger.run_id, status)


# --- sweeps -------------------------------------------------------------------------------------

def start_parent_run(uri: str, experiment_id: str, run_name: str, tags: Mapping[str, Any]) -> str:
    """A sweep's parent run: created RUNNING in the controller, ended by `end_parent_run`."""
    created = client(uri).create_run(experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()})
    return created.info.run_id


def end_parent_run(uri: str, run_id: str, status: str = "FINISHED") -> None:
    _end(client(uri), run_id, status)


def parent_logger(uri: str, run_id: str) -> RunLogger:
    return RunLogger(uri, run_id)


def child_runs(uri: str, experiment_id: str, parent_run_id: str) -> list[Any]:
    """All runs nested under `parent_run_id`, oldest first."""
    found = client(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'", max_results=50000,
        order_by=["attributes.start_time ASC"],
    )
    return list(found)


def latest_sweep(uri: str, experiment_id: str) -> tuple[str, str] | None:
    """The (run id, name) of the experiment's most recent sweep parent run, if any."""
    found = client(uri).search_runs(
        [experiment_id], filter_string="tags.`dlnet.sweep` = 'parent'", max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return (found[0].info.run_id, found[0].info.run_name) if found else None


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client(uri).get_metric_history(run_id, key)]


def run_summary(found_run: Any) -> dict[str, Any]:
    """A plain dict of one run: name, id, status, params, final metrics and tags."""
    info, data = found_run.info, found_run.data
    return {
        "run_id": info.run_id,
        "run": info.run_name,
        "status": info.status,
        "params": dict(data.params),
        "metrics": dict(data.metrics),
        "tags": dict(data.tags),
    }

