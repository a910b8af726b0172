"""The DVC `train` stage end to end: `dvc repro`, metrics, plots, experiments, the MLflow run."""

from __future__ import annotations

import json
import time

import yaml
from mlflow.tracking import MlflowClient

from conftest import BIN, REPO, copy_project, run_tool, sqlite_uri

DVC = str(BIN / "dvc")


def dvc(project, *args, timeout=300):
    # PYTHONPATH: the stages run this copy's code, not the checkout the virtualenv points at.
    return run_tool([DVC, *args], project, timeout=timeout, check=True,
                    PYTHONPATH=str(project / "src"), DVC_NO_ANALYTICS="1")


def dvc_runs(project) -> list:
    client = MlflowClient(tracking_uri=sqlite_uri(project / "mlflow.db"))
    experiment = client.get_experiment_by_name("dlnet")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def values_of(tree, key: str) -> list:
    """Every value stored under `key` anywhere in a JSON tree (`dvc exp show --json`)."""
    if isinstance(tree, dict):
        found = [tree[key]] if key in tree and not isinstance(tree[key], (dict, list)) else []
        return found + [v for value in tree.values() for v in values_of(value, key)]
    if isinstance(tree, list):
        return [v for value in tree for v in values_of(value, key)]
    return []


def test_dvc_repro_trains_tracks_and_reruns_only_what_changed(tmp_path):
    project = copy_project(tmp_path / "project", git=True)
    (project / "dvc.lock").unlink(missing_ok=True)
    # `make repro`, without rebuilding the environment this test already runs in (-o setup)
    first = run_tool(["make", "-f", str(REPO / "Makefile"), "-o", "setup", "repro"], project, timeout=300,
                     check=True, PYTHONPATH=str(project / "src"), DVC_NO_ANALYTICS="1")
    assert all(f"Running stage '{s}'" in first.stdout for s in ("prepare", "scale", "train"))

    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 500 and metrics["diverged"] == 0
    assert metrics["val/accuracy"] > 0.9 and 0 < metrics["test/roc_auc"] <= 1
    loss = (project / "reports" / "loss.csv").read_text().splitlines()
    assert loss[0] == "epoch,train_loss,val_loss" and len(loss) == 501

    runs = dvc_runs(project)
    assert len(runs) == 1
    (run,) = runs
    assert run.data.tags["source"] == "dvc" and run.info.status == "FINISHED"
    assert run.data.metrics["val/accuracy"] == metrics["val/accuracy"]
    assert run.data.tags["dlnet.data.dvc_md5"].endswith(".dir")

    assert "Data and pipelines are up to date" in dvc(project, "repro").stdout

    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "val/accuracy" in shown
    dvc(project, "plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "train_loss" in page and "val_loss" in page

    # Changing only the learning rate reruns only `train`.
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["optim"]["lr"] = 0.2
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    second = dvc(project, "repro")
    assert "Running stage 'train'" in second.stdout
    assert "Running stage 'prepare'" not in second.stdout and "Running stage 'scale'" not in second.stdout
    assert len(dvc_runs(project)) == 2


def test_dvc_experiments_reach_mlflow(tmp_path):
    project = copy_project(tmp_path / "project", git=True)
    dvc(project, "repro")
    run_tool(["git", "add", "-A"], project, check=True)
    run_tool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "built"], project, check=True)

    # DVC composes conf/ with the override into params.yaml, then runs what changed.
    dvc(project, "exp", "run", "-S", "optim.lr=0.3")
    assert yaml.safe_load((project / "params.yaml").read_text())["optim"]["lr"] == 0.3
    dvc(project, "exp", "run", "--queue", "-S", "optim.lr=0.01")
    dvc(project, "queue", "start")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = dvc(project, "queue", "status").stdout
        if "Success" in status and "Running" not in status and "Queued" not in status:
            break
        assert "Failed" not in status, status
        time.sleep(2)
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    assert {0.01, 0.07, 0.3} <= set(values_of(shown, "lr"))
    assert len(values_of(shown, "val/accuracy")) >= 3

    # the queued run trained in a temporary copy, yet reached this project's store
    learning_rates = sorted(float(r.data.params["optim.lr"]) for r in dvc_runs(project))
    assert learning_rates == [0.01, 0.07, 0.3]
    assert {r.data.tags["source"] for r in dvc_runs(project)} == {"dvc"}
