"""`hydra/launcher=ray` on a real 2-node Ray cluster against the PostgreSQL-backed tracking server.

The second node is started from another folder, with its own environment in which dlnet is
installed from the built wheel: no checkout, no conf/, no data/. Its jobs get their config,
parent run, tracking URI and scaled data from the sweep itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BIN, REPO, tool_env
from mlflow.tracking import MlflowClient
from ray_helpers import RayNode, make_token, ray_env
from server_helpers import server_folder

from dlnet.server import TrackingServer

pytestmark = pytest.mark.e2e
GRID = ["optim.lr=0.05,0.2", "model.hidden_units=3,8", "batch=full,mini,stochastic"]
EPOCHS = 3
UV = REPO / ".tools" / "bin" / "uv"


def wheel_environment(folder: Path) -> Path:
    """A fresh virtualenv in `folder` with dlnet installed from its wheel (and the locked dependencies)."""
    env = tool_env(UV_PYTHON_DOWNLOADS="never")
    dist = folder / "dist"
    for command in (
        [str(UV), "build", "--wheel", "--out-dir", str(dist), str(REPO)],
        [str(UV), "venv", "--quiet", "--python", sys.executable, str(folder / "venv")],
    ):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    requirements = subprocess.run(
        [str(UV), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    (folder / "requirements.txt").write_text(requirements)
    (wheel,) = dist.glob("dlnet-*.whl")
    # Compiled once here, as pip does: a node whose agents compile Ray's modules at their first
    # import misses the raylet's 15 s wait for them on a busy machine.
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(folder / "venv" / "bin" / "python"),
            "-r",
            str(folder / "requirements.txt"),
            str(wheel),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return folder / "venv" / "bin"


@pytest.fixture(scope="module")
def cluster(built_project, tmp_path_factory):
    """(head, second node, tracking server, token file): torn down by process group at the end."""
    base = tmp_path_factory.mktemp("ray")
    token = make_token(base)
    node_folder = base / "elsewhere"
    node_folder.mkdir()
    node_bin = wheel_environment(node_folder)
    assert not (node_folder / "conf").exists() and not (node_folder / "data").exists()
    store = server_folder()
    server = TrackingServer(store, port=0)
    head = RayNode(BIN, built_project)
    second = None
    try:
        server.start()
        head.start(ray_env(token))
        second = RayNode(node_bin, node_folder, address=head.head_address)
        second.start(ray_env(token))
        yield head, second, server, token, node_folder
    finally:
        for node in (second, head):
            if node is not None:
                node.stop()
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


def run_sweep(
    project: Path, cluster, tmp_path: Path, *, epochs: int = EPOCHS, during=None, extra: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess, float]:
    head, _, server, token, _ = cluster
    command = [
        str(BIN / "dlnet-train"),
        "-m",
        *GRID,
        f"train.epochs={epochs}",
        *extra,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={head.head_address}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    process = subprocess.Popen(
        command,
        cwd=project,
        env=ray_env(token, MLFLOW_TRACKING_URI=server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    watcher = threading.Thread(target=during, daemon=True) if during else None
    if watcher:
        watcher.start()
    try:
        out, err = process.communicate(timeout=480)
    finally:
        if process.poll() is None:
            process.kill()
    if watcher:
        watcher.join(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, err), time.monotonic() - started


def sweep_runs(url: str) -> tuple[MlflowClient, object, list]:
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("dlnet")
    runs = client.search_runs([experiment.experiment_id], max_results=1000, order_by=["attributes.start_time DESC"])
    (parent,) = [r for r in runs if r.data.tags.get("dlnet.sweep") == "parent"][:1]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return client, parent, children


def check_full(client, children, count: int = 12, epochs: int = EPOCHS) -> None:
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert len({c.info.run_name for c in finished}) == count
    for child in finished:
        for key in ("train/loss", "val/loss"):
            assert sorted(m.step for m in client.get_metric_history(child.info.run_id, key)) == list(
                range(1, epochs + 1)
            )
        assert "val/accuracy" in child.data.metrics


def on_second_node(child, node_folder: Path) -> bool:
    return child.data.tags.get("dlnet.code", "").startswith(str(node_folder))


def wait_for(condition, timeout: float = 240, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(step)


def test_grid_sweep_on_two_nodes_survives_a_tracking_server_restart(cluster, built_project, tmp_path):
    """The 12-run grid on both nodes; the tracking server is restarted once 3 runs have finished."""
    _, _, server, _, node_folder = cluster
    before = time.time() * 1000
    restarted_at: list[float] = []

    def restart_once_runs_are_logging():
        client = MlflowClient(server.url)
        wait_for(
            lambda: (
                len(
                    client.search_runs(
                        [client.get_experiment_by_name("dlnet").experiment_id],
                        filter_string=f"attributes.start_time > {int(before)} and attributes.status = 'FINISHED'",
                    )
                )
                >= 3
            )
        )
        restarted_at.append(time.time() * 1000)
        server.restart_tracking()

    done, _ = run_sweep(built_project, cluster, tmp_path, during=restart_once_runs_are_logging)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Sweep finished: 12 runs, 12 finished, 0 diverged." in done.stdout
    client, parent, children = sweep_runs(server.url)
    assert parent.info.status == "FINISHED"
    assert len(children) == 12 and {c.info.status for c in children} == {"FINISHED"}
    check_full(client, children)  # nothing logged was lost across the restart
    assert restarted_at and sum(c.info.end_time > restarted_at[0] for c in children) >= 3  # it was mid-sweep
    assert len({c.data.tags["ray.node_id"] for c in children}) == 2
    # jobs ran on the wheel-only node, with the data the controller shipped through the server
    assert any(on_second_node(c, node_folder) for c in children), "no job ran on the second node"
    assert {c.data.tags["dlnet.data.digest"] for c in children} == {children[0].data.tags["dlnet.data.digest"]}
    shipped = {a.path for a in client.list_artifacts(parent.info.run_id, "project/data/scaled/original-standard")}
    assert {
        "project/data/scaled/original-standard/train.csv",
        "project/data/scaled/original-standard/meta.json",
    } <= shipped
    assert {"sweep_results.csv", "sweep_val_loss.png"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_second_node_killed_mid_sweep(cluster, built_project, tmp_path):
    _, second, server, _, node_folder = cluster
    before = time.time() * 1000

    def kill_while_it_runs_a_job():
        client = MlflowClient(server.url)
        experiment_id = client.get_experiment_by_name("dlnet").experiment_id
        # A stochastic run on the NumPy engine trains for seconds: the node dies mid-run, not
        # between runs (compiled, a run of this size is over in a fraction of a second).
        wait_for(
            lambda: any(
                on_second_node(r, node_folder) and r.data.tags.get("dlnet.batch") == "stochastic"
                for r in client.search_runs(
                    [experiment_id],
                    filter_string=f"attributes.start_time > {int(before)} and attributes.status = 'RUNNING'",
                )
            ),
            step=0.1,
        )
        second.kill()

    done, _ = run_sweep(
        built_project, cluster, tmp_path, epochs=300, during=kill_while_it_runs_a_job, extra=("train.engine=numpy",)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(server.url)
    assert parent.info.status == "FINISHED"
    assert "RUNNING" not in {c.info.status for c in children}
    lost = [c for c in children if c.info.status == "FAILED"]
    # ended by the sweep at its end, or earlier by a run start that found their process gone
    assert lost and all(c.data.tags["dlnet.status_reason"].startswith(("lost", "its process ended")) for c in lost)
    check_full(client, children, epochs=300)  # every job finished, the lost ones on the head
    assert f"{len(lost)} lost with their worker ({len(lost)} of those jobs ran again)" in done.stdout
