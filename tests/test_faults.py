"""The promises under faults: stop signals, dead processes, many processes on a new store, exit codes.

Every test runs the real `dlnet-train` in its own process group and bounds every wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import BIN, run_tool, sqlite_uri, tool_env
from mlflow.tracking import MlflowClient
from mlflow_ui import free_port

from dlnet import exits
from dlnet.tracking import ensure_experiment

TRAIN = str(BIN / "dlnet-train")
LONG = ["batch=stochastic", "train.epochs=100000"]


def runs_of(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dlnet")
    return client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []


def start(project, args: list[str], *, polled: bool = True) -> subprocess.Popen:
    """`dlnet-train args` in a process group of its own.

    A store the test will poll is created first, under dlnet's lock: MLflow's own client,
    polling a store while another process creates it, would race its migration.
    """
    uri = next(a.split("=", 1)[1] for a in args if a.startswith("tracking.uri="))
    if polled:
        ensure_experiment(uri, "dlnet")
    return subprocess.Popen(
        [TRAIN, *args],
        cwd=project,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_training(process: subprocess.Popen, uri: str, runs: int = 1, timeout: float = 120) -> None:
    """Until `runs` runs have logged losses (the store is polled, the process watched)."""
    deadline = time.monotonic() + timeout
    while sum("train/loss" in r.data.metrics for r in runs_of(uri)) < runs:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            out, err = process.communicate(timeout=30)
            pytest.fail(f"no run started training\n{out}\n{err}")
        time.sleep(0.3)


def finish(process: subprocess.Popen, timeout: float = 90) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    return process.returncode, err


def assert_none_running(uri: str) -> None:
    running = [(r.info.run_name, r.info.status) for r in runs_of(uri) if r.info.status == "RUNNING"]
    assert running == []


def test_sigterm_ends_a_single_run_killed(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start(built_project, [*LONG, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"])
    wait_for_training(process, uri)
    process.send_signal(signal.SIGTERM)
    code, err = finish(process)
    assert code == exits.TERMINATED, err
    (run,) = runs_of(uri)
    assert run.info.status == "KILLED"
    assert run.data.tags["dlnet.status_reason"] == "interrupted (SIGTERM)"
    assert "Traceback" not in err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_during_the_clean_up_still_ends_the_run(built_project, tmp_path, stop):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start(built_project, [*LONG, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"])
    wait_for_training(process, uri)
    process.send_signal(stop)
    time.sleep(0.02)  # the first one is being handled: the run is being ended
    process.send_signal(stop)
    code, err = finish(process)
    assert code in (exits.INTERRUPTED, exits.TERMINATED), err
    (run,) = runs_of(uri)
    assert run.info.status == "KILLED", err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stopping_a_joblib_sweeps_controller_alone_ends_every_run_and_worker(built_project, tmp_path, stop):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start(
        built_project,
        [
            "-m",
            "optim.lr=0.1,0.2,0.3",
            *LONG,
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
    )
    wait_for_training(process, uri, runs=2)
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers
    os.kill(process.pid, stop)  # the controller only, not its group
    code, err = finish(process)
    assert code == (exits.INTERRUPTED if stop == signal.SIGINT else exits.TERMINATED), err
    runs = runs_of(uri)
    assert_none_running(uri)
    (parent,) = [r for r in runs if r.data.tags.get("dlnet.sweep") == "parent"]
    assert parent.info.status == "KILLED" and "interrupted" in parent.data.tags["dlnet.status_reason"]
    assert {r.info.status for r in runs if r is not parent} == {"KILLED"}
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], f"worker processes left behind: {alive}"


def test_a_run_whose_process_was_killed_is_found_and_ended_failed(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start(built_project, [*LONG, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"])
    wait_for_training(process, uri)
    os.killpg(process.pid, signal.SIGKILL)
    finish(process)
    (run,) = runs_of(uri)
    assert run.info.status == "RUNNING"  # nobody could say otherwise
    assert run.data.tags["dlnet.pid"] == str(process.pid) and run.data.tags["dlnet.host"]

    done = run_tool([str(BIN / "dlnet-runs"), "reap", "--store", uri], built_project, timeout=120)
    assert done.returncode == 0, done.stderr
    assert run.info.run_id in done.stdout
    (run,) = runs_of(uri)
    assert run.info.status == "FAILED"
    assert f"pid {process.pid}" in run.data.tags["dlnet.status_reason"]


def test_the_next_run_against_the_store_ends_dead_runs(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    process = start(built_project, [*LONG, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"])
    wait_for_training(process, uri)
    os.killpg(process.pid, signal.SIGKILL)
    finish(process)
    done = run_tool(
        [TRAIN, "train.epochs=3", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'next'}"],
        built_project,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    statuses = sorted(r.info.status for r in runs_of(uri))
    assert statuses == ["FAILED", "FINISHED"]


def test_many_runs_at_once_on_a_brand_new_store(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    processes = [
        start(
            built_project, ["train.epochs=3", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / str(i)}"], polled=False
        )
        for i in range(4)
    ]
    results = [finish(process, timeout=180) for process in processes]
    assert [code for code, _ in results] == [0, 0, 0, 0], [err for _, err in results]
    assert [r.info.status for r in runs_of(uri)] == ["FINISHED"] * 4


def test_a_diverged_single_run_exits_with_its_own_code(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            TRAIN,
            "optim.lr=1000",
            "batch=stochastic",
            "train.epochs=50",
            f"tracking.uri={uri}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        built_project,
        timeout=120,
    )
    assert done.returncode == exits.DIVERGED, done.stderr
    (run,) = runs_of(uri)
    assert run.info.status == "FAILED" and run.data.tags["dlnet.status_reason"].startswith("diverged")


def start_server(backend: str, port: int, folder: Path) -> subprocess.Popen:
    """A real MLflow tracking server on loopback, its artifacts and log in `folder`; returns once it answers."""
    import urllib.request

    with open(folder / "server.log", "a") as log:
        server = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                backend,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=folder,
            env=tool_env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server
        except OSError:
            assert server.poll() is None, "the tracking server did not start"
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    pytest.fail("the tracking server did not answer")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


def test_a_store_lost_mid_run_loses_nothing(built_project, tmp_path):
    """The server dies during training: the run trains on, saves its results, and `dlnet-runs sync` sends them."""
    port, backend = free_port(), sqlite_uri(tmp_path / "server.db")
    uri = f"http://127.0.0.1:{port}"
    epochs = 6000
    server = start_server(backend, port, tmp_path)
    try:
        env = tool_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5")
        process = subprocess.Popen(
            [TRAIN, "batch=mini", f"train.epochs={epochs}", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"],
            cwd=built_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        wait_for_training(process, uri)
    finally:
        stop_server(server)
    code, err = finish(process, timeout=300)
    assert code == exits.TRACKING_FAILED, err
    saved = tmp_path / "run" / "run"
    assert f"dlnet-runs sync {saved}" in err and "Traceback" not in err
    assert len((saved / "history.csv").read_text().splitlines()) == epochs + 1
    assert (saved / "weights.npz").is_file()

    server = start_server(backend, port, tmp_path)  # the store is back, with what it had received
    try:
        done = run_tool([str(BIN / "dlnet-runs"), "sync", str(saved)], built_project, timeout=120)
        assert done.returncode == 0, done.stderr
        (run,) = runs_of(uri)
        assert run.info.status == "FINISHED"
        client = MlflowClient(tracking_uri=uri)
        history = client.get_metric_history(run.info.run_id, "train/loss")
        assert sorted(m.step for m in history) == list(range(1, epochs + 1))
        assert "val/accuracy" in run.data.metrics
        assert "weights.npz" in {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        stop_server(server)


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A read-only file system mounted at `path` (root ignores file modes, not a read-only mount)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True, timeout=30)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def test_a_store_in_a_read_only_folder_fails_at_once(built_project, tmp_path):
    with read_only_folder(tmp_path / "ro") as folder:
        started = time.monotonic()
        done = run_tool(
            [
                TRAIN,
                "train.epochs=3",
                f"tracking.uri={sqlite_uri(folder / 'mlflow.db')}",
                f"hydra.run.dir={tmp_path / 'run'}",
            ],
            built_project,
            timeout=120,
        )
        assert time.monotonic() - started < 30
    assert done.returncode == exits.TRACKING_FAILED
    assert "is not writable" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_read_only_artifact_folder_loses_no_trained_weights(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    ensure_experiment(uri, "dlnet")  # its artifacts go to tmp_path/mlartifacts
    with read_only_folder(tmp_path / "mlartifacts"):
        done = run_tool(
            [TRAIN, "train.epochs=30", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"],
            built_project,
            timeout=120,
        )
    assert done.returncode == exits.TRACKING_FAILED, done.stderr
    saved = tmp_path / "run" / "run"
    assert f"dlnet-runs sync {saved}" in done.stderr and "Traceback" not in done.stderr
    (run,) = runs_of(uri)
    assert run.info.status == "FAILED" and "store failed" in run.data.tags["dlnet.status_reason"]
    # the folder is writable again: the same run is completed, weights included
    done = run_tool([str(BIN / "dlnet-runs"), "sync", str(saved), "--store", uri], built_project, timeout=120)
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(uri)
    assert run.info.status == "FINISHED"
    assert "weights.npz" in {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run.info.run_id)}
