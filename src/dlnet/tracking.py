"""Everything dlnet says to MLflow about runs. With dlnet.tracking_model (the packaged model and
the registry), the only module that imports mlflow.

A store holds one experiment; a training run is an MLflow run (nested under a
sweep's parent run when it is part of a sweep). Metrics go in batches: one
`log_metric` call per epoch costs ~3 ms on SQLite, a batched point ~0.1 ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

# TrackingError (and TrackingUnreachableError, one of its kinds) live where code without mlflow can catch them.
from dlnet.exits import signals_held
from dlnet.uris import TrackingError, TrackingUnreachableError, check_reachable, redact  # noqa: F401 (re-exported)

# MLflow 3's UI opens an experiment in its GenAI view unless it is marked as a
# model-training one with this tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
PARENT_RUN_TAG = "mlflow.parentRunId"
METRICS_PER_CALL = 1000  # MLflow's limit for one log_batch call
PARAMS_PER_CALL = 100
# Who is running a run, so that a run whose process died can be found and ended.
HOST_TAG, PID_TAG, PID_STARTED_TAG, HEARTBEAT_TAG = "dlnet.host", "dlnet.pid", "dlnet.pid_started", "dlnet.heartbeat"
HEARTBEAT_SECONDS = 60
# A RUNNING run on another machine whose heartbeat is older than this is taken for dead.
STALE_AFTER_SECONDS = 30 * 60
STATUS_REASON_TAG = "dlnet.status_reason"
# MLflow retries a failed request 7 times with a 120 s timeout each: an unreachable server
# held a run for 4 to 7 minutes. Shorter defaults (a user's own settings win) still ride out
# a server restart of about a minute; `check_reachable` fails fast before a run starts.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
# MLflow prints "View run ... at <server URI>" when a run ends: the URI may carry a password,
# and the line costs one more request per run. dlnet prints its own (redacted) addresses.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
# A sweep's job downloads its shipped data: no progress bar in every job's output.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own convention


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


@contextmanager
def store_errors(uri: str, doing: str) -> Iterator[None]:
    """Turn whatever the store raises into one TrackingError line naming the store."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as error:  # MLflow, SQLAlchemy, requests: the store failed, whatever the layer
        raise TrackingError(redact(f"the tracking store {uri} failed while {doing}: {_first_line(error)}")) from error


@contextmanager
def _creating_store(uri: str) -> Iterator[None]:
    """Only one process at a time creates (migrates) a SQLite store: MLflow's migration races otherwise.

    A folder that cannot be written fails at once with a clear message (MLflow itself retries
    for minutes, then prints a long traceback).
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    if not db.parent.is_dir():
        raise TrackingError(f"the tracking store {uri}: the folder {db.parent} does not exist")
    if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
        raise TrackingError(
            f"the tracking store {uri} is not writable: {db if db.exists() else db.parent} is read-only"
        )
    with open(db.parent / f"{db.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def local_store_uri(root: Path) -> str:
    """The project's own store: the SQLite file mlflow.db at the project root (absolute)."""
    return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


def store_uri(root: Path, uri: str | None = None) -> str:
    """The tracking URI: `uri` (tracking.uri) if given, else MLFLOW_TRACKING_URI, else the local store."""
    if uri:
        return uri
    return os.environ.get(TRACKING_URI_ENV) or local_store_uri(root)


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store; the server decides otherwise."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


# The experiments this process opened, by (store, name): a sweep's jobs in its controller's process
# (the basic launcher) take the id the controller found instead of asking the store again.
_opened: dict[tuple[str, str], str] = {}
# MLflow's entity of each data set this process logged, by (name, source, digest, targets): `log_dataset`.
_dataset_entities: dict[tuple[str, str, str, str], Any] = {}


def ensure_experiment(uri: str, name: str, *, reap: bool = True) -> str:
    """Create the store and the experiment if needed; return its id. Any number of processes may call it at once.

    The experiment is marked as a model-training one, so the UI opens its runs table. Runs
    left RUNNING by a process that died are ended FAILED on the way (`reap`); without `reap`
    (a sweep's job), an experiment this process opened already is not looked up again.
    """
    if not reap and (uri, name) in _opened:
        return _opened[(uri, name)]
    with _creating_store(uri), store_errors(uri, "opening the experiment"):
        mlflow_client = client(uri)
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            try:
                experiment_id = mlflow_client.create_experiment(
                    name, artifact_location=artifact_root(uri), tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}
                )
            except MlflowException:  # created meanwhile by another process (a server has no file lock)
                experiment = mlflow_client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
        else:
            experiment_id = experiment.experiment_id
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
                mlflow_client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    _opened[(uri, name)] = experiment_id
    if reap:
        for run_id, reason in reap_dead_runs(uri, experiment_id):
            print(f"ended run {run_id} FAILED: {reason}", flush=True)
    return experiment_id


# --- who runs a run, and runs whose process died --------------------------------------------------


def _started(pid: int) -> str | None:
    """When process `pid` started (its identity: a reused pid has another start time), or None if gone."""
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_tags() -> dict[str, str]:
    """This process: host name, pid and start time (nothing else about the machine or the user)."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PID_STARTED_TAG: _started(pid) or "",
        HEARTBEAT_TAG: str(_now_ms()),
    }


def dead_run_reason(tags: Mapping[str, str], now_ms: int | None = None) -> str | None:
    """Why a RUNNING run's process is known to be gone, or None while it may be alive."""
    now_ms = _now_ms() if now_ms is None else now_ms
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG)
    beat = tags.get(HEARTBEAT_TAG)
    seen = f"; last heartbeat {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(int(beat) / 1000))}" if beat else ""
    if host == socket.gethostname() and pid and pid.isdigit():
        if _started(int(pid)) != tags.get(PID_STARTED_TAG):
            return f"its process ended without ending the run (host {host}, pid {pid}{seen})"
        return None
    if beat and beat.isdigit() and now_ms - int(beat) > STALE_AFTER_SECONDS * 1000:
        return (
            f"no heartbeat from its process for over {STALE_AFTER_SECONDS // 60} minutes (host {host}, pid {pid}{seen})"
        )
    return None


def reap_dead_runs(uri: str, experiment_id: str) -> list[tuple[str, str]]:
    """End FAILED, with the reason, every RUNNING run of the experiment whose process is gone."""
    mlflow_client = client(uri)
    with store_errors(uri, "looking for runs whose process died"):
        running = mlflow_client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
        )
    ended = []
    for found in running:
        reason = dead_run_reason(found.data.tags)
        if reason is None:
            continue
        try:
            mlflow_client.set_tag(found.info.run_id, STATUS_REASON_TAG, reason)
            _end(mlflow_client, found.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        except MlflowException:
            continue  # ended meanwhile by its owner
        ended.append((found.info.run_id, reason))
    return ended


def set_experiment_tag(uri: str, experiment_id: str, key: str, value: str) -> None:
    client(uri).set_experiment_tag(experiment_id, key, value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_param_value(value: Any) -> str:
    return "null" if value is None else str(value)


class RunLogger:
    """One MLflow run: params, tags, batched metric histories, artifacts, inputs."""

    def __init__(self, uri: str, run_id: str, experiment_id: str | None = None):
        self.uri = uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.params: dict[str, str] = {}  # what log_params logged, as the store holds them
        self._client = client(uri)
        self._pending: list[Metric] = []
        self.failure: str | None = None  # set by `fail`: the run ends FAILED with this reason
        self.handed_off = False  # its end was handed to another process (dlnet.run_end), which ends it
        self._last_beat = time.monotonic()
        # Set when the store failed during the run: nothing more is sent (training must not wait
        # on a store that is gone); the run's results are on disk instead (dlnet.results).
        self.offline: str | None = None
        # A stop signal raised inside a SQLite write can strand that write's connection with the
        # database's lock, and the run could then not be ended: such a write completes first,
        # and the signal is handled right after it. (An HTTP request may be cut short: the server
        # stays consistent, and a hung server must not hold Ctrl-C back.)
        self._whole = signals_held if uri.startswith("sqlite") else contextlib.nullcontext

    def _send(self, what: str, call, *args: Any, **kwargs: Any) -> None:
        if self.offline:
            return
        try:
            with self._whole():
                call(*args, **kwargs)
        except Exception as error:  # MLflow, SQLAlchemy, requests: the store failed
            self.offline = f"{what}: {_first_line(error)}"

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(key, _as_param_value(value)) for key, value in params.items()]
        self.params.update((item.key, item.value) for item in items)
        for start in range(0, len(items), PARAMS_PER_CALL):
            self._send(
                "logging params", self._client.log_batch, self.run_id, params=items[start : start + PARAMS_PER_CALL]
            )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(key, str(value)) for key, value in tags.items()]
        for start in range(0, len(items), PARAMS_PER_CALL):
            self._send("logging tags", self._client.log_batch, self.run_id, tags=items[start : start + PARAMS_PER_CALL])

    def add_points(self, step: int, values: Mapping[str, float | None]) -> None:
        """Queue one point per metric at `step`; sent once a full batch has gathered (or a heartbeat is due)."""
        timestamp = _now_ms()
        for key, value in values.items():
            if value is not None:
                self._pending.append(Metric(key, float(value), timestamp, step))
        if len(self._pending) >= METRICS_PER_CALL or time.monotonic() - self._last_beat > HEARTBEAT_SECONDS:
            self.flush()

    def flush(self, tags: Mapping[str, Any] | None = None) -> None:
        """Send the queued points, and `tags` with them (one call where there are fewer than 1,000 points)."""
        pending, self._pending = self._pending, []
        run_tags = [RunTag(key, str(value)) for key, value in (tags or {}).items()]
        if time.monotonic() - self._last_beat > HEARTBEAT_SECONDS:  # the run's process is alive
            run_tags, self._last_beat = [*run_tags, RunTag(HEARTBEAT_TAG, str(_now_ms()))], time.monotonic()
        for start in range(0, max(len(pending), len(run_tags)), METRICS_PER_CALL):
            batch = pending[start : start + METRICS_PER_CALL]
            self._send(
                "logging metrics",
                self._client.log_batch,
                self.run_id,
                metrics=batch,
                tags=run_tags if start == 0 else [],
            )
            if not self.offline:
                _remember(self.uri, self.run_id, batch)

    def log_metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        timestamp = _now_ms()
        self._pending.extend(Metric(k, float(v), timestamp, step) for k, v in values.items() if v is not None)
        self.flush()

    def remember(self, values: Mapping[str, float], step: int) -> None:
        """Points logged on this run by another call (the packaged model's final metrics), so that
        `metric_history` answers for this run from memory as the store would."""
        remember_sent(self.uri, self.run_id, values, step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._send(f"logging {Path(path).name}", self._client.log_artifact, self.run_id, str(path), artifact_path)

    def log_dataset(self, frame, *, name: str, source: str, digest: str, context: str, targets: str) -> None:
        """Record a data frame as an MLflow dataset input (name, digest, schema, source).

        `digest` names the frame's data: the entity (schema, profile, source) is made once per
        process for each (name, source, digest, targets), as a sweep's jobs log the same split.
        """
        key = (name, source, digest, targets)
        entity = _dataset_entities.get(key)
        if entity is None:
            with warnings.catch_warnings():
                # MLflow warns that a local path matches two identical source types, and that
                # integer columns cannot hold NaN; neither applies to a finished, validated split.
                warnings.simplefilter("ignore", UserWarning)
                dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]  # a lazy submodule attribute
                    frame, source=source, targets=targets, name=name, digest=digest[:36]
                )
                entity = _dataset_entities[key] = dataset._to_mlflow_entity()
        inputs = [DatasetInput(entity, tags=[InputTag(key="mlflow.data.context", value=context)])]

        def log_inputs() -> None:
            try:
                self._client.log_inputs(self.run_id, datasets=inputs)
            except MlflowException as error:
                # Two parallel sweep workers registering the same new dataset at once: one wins the
                # insert, the other hits the unique constraint. The dataset now exists: link to it.
                if "UNIQUE constraint" not in str(error):
                    raise
                time.sleep(0.2)
                self._client.log_inputs(self.run_id, datasets=inputs)

        self._send("logging the dataset", log_inputs)

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
    """Open a run; it ends FINISHED, FAILED (an error, or `fail`), or KILLED (SIGINT, SIGTERM), never RUNNING.

    While the run is being ended, a second Ctrl-C or SIGTERM waits until it is. A run whose end
    was handed off (dlnet.run_end) is left to whoever took it.
    """
    mlflow_client = client(uri)
    all_tags = {str(k): str(v) for k, v in (tags or {}).items()} | process_tags()
    if parent_run_id:
        all_tags[PARENT_RUN_TAG] = parent_run_id
    with store_errors(uri, "creating the run"):
        created = mlflow_client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    with _ending(RunLogger(uri, created.info.run_id, experiment_id)) as logger:
        yield logger


def resume(uri: str, run_id: str, experiment_id: str) -> contextlib.AbstractContextManager[RunLogger]:
    """A RUNNING run created elsewhere, to log to and end as `run` ends its own (dlnet.run_end)."""
    return _ending(RunLogger(uri, run_id, experiment_id))


def run_status(uri: str, run_id: str) -> str:
    with store_errors(uri, "reading the run's status"):
        return client(uri).get_run(run_id).info.status


@contextmanager
def _ending(logger: RunLogger) -> Iterator[RunLogger]:
    """Yield `logger`, then end its run as `run` says; not at all once `handed_off` is set."""
    from dlnet.exits import interrupt_reason

    uri = logger.uri
    try:
        yield logger
        if logger.handed_off:
            return
        with store_errors(uri, "logging the run"):
            logger.flush()
    except KeyboardInterrupt as interrupt:
        if not logger.handed_off:
            with signals_held():
                _end_quietly(logger, RunStatus.to_string(RunStatus.KILLED), interrupt_reason(interrupt))
        raise
    except BaseException as error:
        if not logger.handed_off:
            with signals_held():
                _end_quietly(logger, RunStatus.to_string(RunStatus.FAILED), _first_line(error))
        raise
    else:
        if logger.offline:
            with signals_held():
                _end_quietly(logger, RunStatus.to_string(RunStatus.FAILED), f"the store failed: {logger.offline}")
            raise TrackingError(f"the tracking store {uri} failed during the run ({logger.offline})")
        with signals_held(), store_errors(uri, "ending the run"):
            if logger.failure:
                logger.set_tags({STATUS_REASON_TAG: logger.failure})
                _end(logger._client, logger.run_id, RunStatus.to_string(RunStatus.FAILED))
            else:
                _end(logger._client, logger.run_id, RunStatus.to_string(RunStatus.FINISHED))


def _end_quietly(logger: RunLogger, status: str, reason: str) -> None:
    """Best effort on the way out: keep what was logged, record why, never leave it RUNNING.

    If the store itself is gone, the run stays RUNNING there until `dlnet-runs reap` (or the
    next run against that store) finds its process gone and ends it FAILED.
    """
    reason = redact(reason)
    try:
        logger.flush()
    except Exception:
        pass
    try:
        logger._client.set_tag(logger.run_id, STATUS_REASON_TAG, reason[:5000])
        _end(logger._client, logger.run_id, status)
    except Exception as error:
        print(
            f"warning: run {logger.run_id} could not be ended {status} in {redact(logger.uri)} "
            f"({_first_line(error)}); `dlnet-runs reap` ends it once its process is gone",
            file=sys.stderr,
        )


def send_saved_run(uri: str, folder: Path) -> str:
    """Send a run saved on disk while its store was down (dlnet.results) to the store; return its run id.

    If the store still has the run (it went down mid-run), the run is completed: the history
    points it lacks, the final metrics, the artifacts and its final status. Otherwise the run is
    created anew, tagged `dlnet.synced_from` with the id it had.
    """
    from dlnet import results

    folder = Path(folder)
    saved = results.read_json(folder / "run.json")
    experiment_id = ensure_experiment(uri, saved["experiment"], reap=False)
    mlflow_client = client(uri)
    with store_errors(uri, "sending the saved run"):
        try:
            existing = mlflow_client.get_run(saved["run_id"])
        except MlflowException:
            existing = None
        if existing is not None and existing.info.experiment_id == experiment_id:
            run_id, params_there = existing.info.run_id, set(existing.data.params)
            last_step = {
                key: max((m.step for m in mlflow_client.get_metric_history(run_id, key)), default=0)
                for key in results.HISTORY_KEYS
            }
            artifacts_there = {a.path for a in mlflow_client.list_artifacts(run_id)}
        else:
            tags = {str(k): str(v) for k, v in saved["tags"].items()} | {"dlnet.synced_from": saved["run_id"]}
            parent = saved.get("parent_run_id")
            if parent:
                tags[PARENT_RUN_TAG] = parent
            run_id = mlflow_client.create_run(experiment_id, run_name=saved["run_name"], tags=tags).info.run_id
            params_there, last_step, artifacts_there = set(), {}, set()
        logger = RunLogger(uri, run_id)
        logger.log_params({k: v for k, v in saved["params"].items() if k not in params_there})
        timestamp = _now_ms()
        points = [
            Metric(key, value, timestamp, step)
            for key, series in results.read_history(folder).items()
            for step, value in series
            if step > last_step.get(key, 0)
        ]
        for start in range(0, len(points), METRICS_PER_CALL):
            mlflow_client.log_batch(run_id, metrics=points[start : start + METRICS_PER_CALL])
        final = results.read_json(folder / "metrics.json")
        mlflow_client.log_batch(
            run_id, metrics=[Metric(k, float(v), timestamp, int(saved["epochs_run"])) for k, v in final.items()]
        )
        for name in results.ARTIFACTS:
            if (folder / name).is_file() and name not in artifacts_there:
                mlflow_client.log_artifact(run_id, str(folder / name))
        if logger.offline:
            raise TrackingError(f"the tracking store {uri} failed while sending the saved run: {logger.offline}")
        if saved.get("reason"):
            mlflow_client.set_tag(run_id, STATUS_REASON_TAG, saved["reason"])
        mlflow_client.set_tag(run_id, "dlnet.synced", "true")
        _end(mlflow_client, run_id, saved["status"])
    return run_id


# --- sweeps -------------------------------------------------------------------------------------


def start_parent_run(uri: str, experiment_id: str, run_name: str, tags: Mapping[str, Any]) -> str:
    """A sweep's parent run: created RUNNING in the controller, ended by `end_parent_run`."""
    all_tags = {k: str(v) for k, v in tags.items()} | process_tags()
    with store_errors(uri, "creating the sweep's parent run"):
        created = client(uri).create_run(experiment_id, run_name=run_name, tags=all_tags)
    return created.info.run_id


def end_parent_run(uri: str, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
    mlflow_client = client(uri)
    if reason:
        mlflow_client.set_tag(run_id, STATUS_REASON_TAG, reason)
    _end(mlflow_client, run_id, status)


def end_running_children(uri: str, parent_run_id: str, status: str, reason: str) -> int:
    """End every child of a sweep still RUNNING (its worker was stopped); return how many."""
    mlflow_client = client(uri)
    parent = mlflow_client.get_run(parent_run_id)
    running = mlflow_client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}' and attributes.status = 'RUNNING'",
        max_results=50000,
    )
    for found in running:
        mlflow_client.set_tag(found.info.run_id, STATUS_REASON_TAG, reason)
        _end(mlflow_client, found.info.run_id, status)
    return len(running)


def parent_logger(uri: str, run_id: str) -> RunLogger:
    return RunLogger(uri, run_id)


def child_runs(uri: str, experiment_id: str, parent_run_id: str) -> list[Any]:
    """All runs nested under `parent_run_id`, oldest first."""
    found = client(uri).search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'",
        max_results=50000,
        order_by=["attributes.start_time ASC"],
    )
    return list(found)


def latest_sweep(uri: str, experiment_id: str) -> tuple[str, str] | None:
    """The (run id, name) of the experiment's most recent sweep parent run, if any."""
    found = client(uri).search_runs(
        [experiment_id],
        filter_string="tags.`dlnet.sweep` = 'parent'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return (found[0].info.run_id, found[0].info.run_name) if found else None


def download_artifacts(uri: str, run_id: str, path: str, destination: Path) -> Path:
    """Copy the artifact `path` (a file or a folder) of `run_id` into `destination`; return where it landed."""
    return Path(client(uri).download_artifacts(run_id, path, str(destination)))


def best_child(uri: str, experiment_id: str, parent_run_id: str, metric: str = "val/accuracy") -> str | None:
    """The id of the sweep's run with the highest `metric`, if any run has it."""
    found = client(uri).search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'",
        max_results=1,
        order_by=[f"metrics.`{metric}` DESC"],
    )
    return found[0].info.run_id if found and metric in found[0].data.metrics else None


def sweep_parents(uri: str, experiment_id: str) -> list[dict[str, Any]]:
    """Every sweep parent run of the experiment (as `run_summary` dicts), newest first."""
    found = client(uri).search_runs(
        [experiment_id],
        filter_string="tags.`dlnet.sweep` = 'parent'",
        max_results=50000,
        order_by=["attributes.start_time DESC"],
    )
    return [run_summary(run) for run in found]


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every point of `key` in run `run_id`, as the store holds them: as this
    process sent them when it logged the run (see `_remember`), else read from the store."""
    sent = _sent.get((uri, run_id, key))
    if sent is not None:
        return list(sent)
    return [(m.step, m.value) for m in client(uri).get_metric_history(run_id, key)]


# The points this process's RunLoggers sent, by (store, run, key), kept while every point of
# that key was finite or NaN (the store keeps those as sent; an infinite one it clips, so such a
# history is read back instead). A sweep's report reads the histories of its runs: from the store,
# that is a query per run, whose cost grows with the store (the index SQLite picks for it covers
# every run's points of that key: ~90 ms a run in a store of a million points).
_sent: dict[tuple[str, str, str], list[tuple[int, float]] | None] = {}


def remember_sent(uri: str, run_id: str, values: Mapping[str, float], step: int) -> None:
    """Points logged on a run by another call or process (dlnet.run_end): `values` at `step`."""
    _remember(uri, run_id, [Metric(k, float(v), 0, step) for k, v in values.items()])


def _remember(uri: str, run_id: str, metrics: list[Metric]) -> None:
    for metric in metrics:
        key = (uri, run_id, metric.key)
        points = _sent.setdefault(key, [])
        if points is None:
            continue
        if math.isinf(metric.value):
            _sent[key] = None
        else:
            points.append((metric.step, metric.value))


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
