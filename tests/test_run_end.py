"""dlnet.run_end in a real sweep: each run's end is sent by the sweep's second process while the
next run trains, and no fault loses one. A real `dlnet-train -m` in its own process group; the
worker is found among its children and killed, the sweep is stopped, the store's folder is made
read-only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest
from conftest import BIN, run_tool, sqlite_uri
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient
from test_faults import read_only_folder, start

from dlnet import drawing, exits, run_end, tracking
from dlnet.job import run_job
from dlnet.params import compose_defaults
from dlnet.tracking import ensure_experiment

TRAIN = str(BIN / "dlnet-train")
ARTIFACTS = {"config.yaml", "weights.npz", "scaler.json", "loss_curve.png", "confusion_matrix.png"}
# The first run trains for a few seconds: the worker is ready (its imports done) when it ends.
FIRST_EPOCHS = 30000


def runs_of(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dlnet")
    return client.search_runs([experiment.experiment_id], max_results=100, order_by=["attributes.start_time ASC"])


def children(uri: str) -> list:
    return [r for r in runs_of(uri) if "mlflow.parentRunId" in r.data.tags]


def start_sweep(project, uri: str, tmp_path, overrides: list[str]) -> subprocess.Popen:
    return start(project, ["-m", *overrides, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}"])


def wait_until(process: subprocess.Popen, condition, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or process.poll() is not None:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate(timeout=30)
            pytest.fail(f"the sweep never got there\n{out}\n{err}")
        time.sleep(0.05)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    return process.returncode, out, err


def the_worker(controller: int) -> psutil.Process:
    """The sweep's second process: its spawned child that is not multiprocessing's resource tracker."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process(controller).children():
            command = " ".join(child.cmdline())
            if "spawn_main" in command and "resource_tracker" not in command:
                return child
        time.sleep(0.05)
    pytest.fail("the sweep started no worker")


def assert_complete(uri: str, run, epochs: int, log_every: int, *, model: bool = True) -> None:
    """A FINISHED run with everything: history, final metrics, artifacts, a READY packaged model."""
    client = MlflowClient(tracking_uri=uri)
    assert run.info.status == "FINISHED", (run.info.run_name, run.data.tags.get("dlnet.status_reason"))
    assert "val/accuracy" in run.data.metrics and run.data.tags["dlnet.engine"]
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(log_every, epochs + 1, log_every))
    assert ARTIFACTS <= {a.path for a in client.list_artifacts(run.info.run_id)}
    if not model:
        return
    models = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert LoggedModelStatus.READY in {m.status for m in models}
    assert LoggedModelStatus.PENDING not in {m.status for m in models}


def assert_gone(process: psutil.Process) -> None:
    deadline = time.monotonic() + 10
    while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {process.pid} outlived the sweep"
        time.sleep(0.05)


def test_each_runs_end_is_sent_while_the_next_run_trains(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start_sweep(
        built_project, uri, tmp_path, [f"train.epochs={FIRST_EPOCHS},2000", "batch=stochastic", "train.log_every=50"]
    )
    code, out, err = finish(process)
    assert code == 0, err
    first, second = children(uri)
    assert_complete(uri, first, FIRST_EPOCHS, 50)
    assert_complete(uri, second, 2000, 50)
    # handed off: the first run was ended after the second had started
    assert first.info.end_time > second.info.start_time
    assert "Sweep finished: 2 runs, 2 finished, 0 diverged." in out


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_a_runs_end_is_in_flight_still_sends_it(built_project, tmp_path, stop):
    """Ctrl-C (or a scheduler's SIGTERM) to the whole group just after the first run was handed off:
    the worker ignores SIGINT and finishes it, or dies of SIGTERM and the sweep sends it itself."""
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start_sweep(
        built_project,
        uri,
        tmp_path,
        [f"train.epochs={FIRST_EPOCHS},10000000", "batch=stochastic", "train.log_every=50"],
    )
    worker = the_worker(process.pid)
    wait_until(process, lambda: len(children(uri)) == 2)  # the second run is created: the first is handed off
    os.killpg(process.pid, stop)
    code, _, err = finish(process)
    assert code == (exits.INTERRUPTED if stop == signal.SIGINT else exits.TERMINATED), err
    first, second = children(uri)
    assert_complete(uri, first, FIRST_EPOCHS, 50)
    assert second.info.status == "KILLED"
    assert_gone(worker)


def test_a_killed_worker_loses_no_run(built_project, tmp_path):
    """SIGKILL to the worker just after it was handed the first run: the sweep sends that run's end
    itself, and every later run's (no worker: in its own process)."""
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start_sweep(
        built_project,
        uri,
        tmp_path,
        [f"train.epochs={FIRST_EPOCHS},2000,2500", "batch=stochastic", "train.log_every=50"],
    )
    worker = the_worker(process.pid)
    wait_until(process, lambda: len(children(uri)) == 2)
    worker.kill()
    code, out, err = finish(process)
    assert code == 0, err
    first, second, third = children(uri)
    assert_complete(uri, first, FIRST_EPOCHS, 50)
    assert_complete(uri, second, 2000, 50)
    assert_complete(uri, third, 2500, 50)
    assert "Sweep finished: 3 runs, 3 finished, 0 diverged." in out


def test_a_store_failing_while_the_worker_sends_loses_nothing(built_project, tmp_path):
    """The store's artifact folder is read-only: the worker's first write fails. The run ends FAILED
    (not RUNNING), the sweep stops with the store's exit code, and names the folder to sync."""
    uri = sqlite_uri(tmp_path / "mlflow.db")
    ensure_experiment(uri, "dlnet")  # its artifacts go to tmp_path/mlartifacts
    with read_only_folder(tmp_path / "mlartifacts"):
        process = start_sweep(
            built_project,
            uri,
            tmp_path,
            [f"train.epochs={FIRST_EPOCHS},2000", "batch=stochastic", "train.log_every=50"],
        )
        code, _, err = finish(process)
    assert code == exits.TRACKING_FAILED, err
    saved = tmp_path / "sweep" / "0" / "run"
    assert f"dlnet-runs sync {saved}" in err and "Traceback" not in err
    runs = children(uri)
    assert "RUNNING" not in {r.info.status for r in runs}
    assert "store failed" in runs[0].data.tags["dlnet.status_reason"]
    # the folder is writable again: the run is completed from its folder
    done = run_tool([str(BIN / "dlnet-runs"), "sync", str(saved), "--store", uri], built_project, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_complete(uri, children(uri)[0], FIRST_EPOCHS, 50, model=False)  # the sync sends no model


def test_a_stuck_worker_is_stopped_and_the_run_end_sent_here(built_project, tmp_path, monkeypatch):
    """In this process, as a sweep's controller: the worker stops answering (SIGSTOP) before it is
    handed a run's end. Once the wait runs out, it is killed and the end is sent from here."""
    uri = sqlite_uri(tmp_path / "mlflow.db")
    cfg = compose_defaults(built_project / "conf", ["train.epochs=30", f"tracking.uri={uri}"])
    drawing.start()
    deadline = time.monotonic() + 120
    while not drawing.ready():
        assert time.monotonic() < deadline, "the worker never got ready"
        time.sleep(0.05)
    worker = psutil.Process(drawing.submit(os.getpid).result(timeout=60))
    try:
        worker.suspend()  # SIGSTOP: alive, and stuck
        result = run_job(cfg, root=built_project, source="test", progress=False, output_dir=tmp_path / "job")
        assert result.model_uri is None  # handed off: its model is not known yet
        assert tracking.run_status(uri, result.run_id) == "RUNNING"
        monkeypatch.setattr(run_end, "WAIT_SECONDS", 2.0)
        run_end.wait()
        assert_gone(worker)
    finally:
        if worker.is_running():
            worker.kill()
        drawing.stop(wait=False)
    (run,) = runs_of(uri)
    assert_complete(uri, run, 30, 1)
