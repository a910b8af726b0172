"""The DVC `train` stage end to end: `dvc repro`, metrics, plots, experiments, the MLflow run."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import yaml
from conftest import BIN, REPO, copy_project, run_tool, sqlite_uri
from mlflow.tracking import MlflowClient

DVC = str(BIN / "dvc")


def dvc(project, *args, timeout=300):
    # PYTHONPATH: the stages run this copy's code, not the checkout the virtualenv points at.
    return run_tool(
        [DVC, *args], project, timeout=timeout, check=True, PYTHONPATH=str(project / "src"), DVC_NO_ANALYTICS="1"
    )


def dvc_runs(project) -> list:
    client = MlflowClient(tracking_uri=sqlite_uri(project / "mlflow.db"))
    experiment = client.get_experiment_by_name("dlnet")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def drawn_offline(page: Path, tmp_path: Path) -> int:
    """How many Vega charts headless Chromium draws on `page` with every network request refused."""
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = done.stdout[done.stdout.rfind("<body") :]
    return len(re.findall(r'<canvas[^>]*class="marks"', body))


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
    first = run_tool(
        ["make", "-f", str(REPO / "Makefile"), "-o", "setup", "repro"],
        project,
        timeout=300,
        check=True,
        PYTHONPATH=str(project / "src"),
        DVC_NO_ANALYTICS="1",
    )
    for stage in ("prepare@original", "scale@original-standard", "scale@wdbc-minmax", "train"):
        assert f"Running stage '{stage}'" in first.stdout

    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 500 and metrics["diverged"] == 0
    assert metrics["val/accuracy"] > 0.9 and 0 < metrics["test/roc_auc"] <= 1
    loss = (project / "reports" / "loss.csv").read_text().splitlines()
    assert loss[0] == "epoch,train_loss,val_loss" and len(loss) == 501

    runs = dvc_runs(project)
    assert len(runs) == 1
    (run,) = runs
    assert run.data.tags["source"] == "dvc" and run.info.status == "FINISHED"
    assert round(run.data.metrics["val/accuracy"], 6) == metrics["val/accuracy"]  # the report is rounded
    assert run.data.tags["dlnet.data.dvc_md5"].endswith(".dir")
    assert run.data.tags["dlnet.data.variant"] == "original-standard"
    assert run.info.run_name == "lr=0.07 h=15 full"
    # the committed reports are rounded: a rerun elsewhere leaves git clean
    assert all(len(value.split("e")[0].lstrip("-0.")) <= 7 for value in loss[1].split(",")[1:])

    assert "Data and pipelines are up to date" in dvc(project, "repro").stdout

    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "val/accuracy" in shown
    dvc(project, "plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "train_loss" in page and "val_loss" in page
    # the page draws its curves with no internet (its scripts are in the page, not on a CDN)
    assert "cdn.jsdelivr" not in page
    assert drawn_offline(tmp_path / "plots" / "index.html", tmp_path) >= 1

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


def test_dvc_exp_run_any_key_and_the_workspace_runs_any_config(tmp_path):
    project = copy_project(tmp_path / "project", git=True)
    dvc(project, "repro")
    run_tool(["git", "add", "-A"], project, check=True)
    run_tool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "built"], project, check=True)

    # a failing experiment (a bad value) keeps the committed reports
    reports = {name: (project / "reports" / name).read_text() for name in ("metrics.json", "loss.csv")}
    failed = run_tool(
        [DVC, "exp", "run", "-S", "optim.lr=-1"],
        project,
        timeout=300,
        PYTHONPATH=str(project / "src"),
        DVC_NO_ANALYTICS="1",
    )
    assert failed.returncode != 0 and "optim.lr=-1.0 is not allowed" in failed.stdout + failed.stderr
    assert {name: (project / "reports" / name).read_text() for name in reports} == reports
    run_tool(["git", "checkout", "--", "params.yaml"], project, check=True)

    # another built variant: the train stage reads it
    dvc(project, "exp", "run", "-S", "scale.method=minmax", "-S", "train.epochs=50")
    # a data key no variant holds: the train stage prepares and scales it for that run alone
    dvc(project, "exp", "run", "-S", "data.split_seed=3", "-S", "train.epochs=50")
    runs = {(r.data.params["scale.method"], r.data.params["data.split_seed"]): r for r in dvc_runs(project)}
    assert runs[("minmax", "0")].data.tags["dlnet.data.variant"] == "original-minmax"
    assert runs[("standard", "3")].data.tags["dlnet.data.built_for_run"] == "true"
    assert runs[("standard", "3")].info.status == "FINISHED"

    # and the workspace still runs the default config, and any other built variant, without rebuilding
    for args in ([], ["data=wdbc", "scale=minmax"]):
        done = run_tool([str(BIN / "dlnet-train"), "train.epochs=20", *args], project, timeout=300)
        assert done.returncode == 0, done.stderr


def test_a_fresh_clone_trains_and_logs_a_model(tmp_path):
    """A clone holds dvc.lock and the reports but not DVC's cache: `make repro` must train, log
    a run with its model, and write the model (models/dlnet, a DVC output outside git)."""
    import shutil

    project = copy_project(tmp_path / "project")
    for name in ("dvc.lock", ".gitignore", "reports"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, project / name)
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"],
    ):
        run_tool(["git", *args], project, check=True)
    done = run_tool(
        ["make", "-f", str(REPO / "Makefile"), "-o", "setup", "repro"],
        project,
        timeout=400,
        check=True,
        PYTHONPATH=str(project / "src"),
        DVC_NO_ANALYTICS="1",
    )
    assert "Running stage 'train'" in done.stdout
    (run,) = dvc_runs(project)
    client = MlflowClient(tracking_uri=sqlite_uri(project / "mlflow.db"))
    (model,) = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert model.source_run_id == run.info.run_id and model.name == "model"
    assert (project / "models" / "dlnet" / "MLmodel").is_file()
    assert f"model_id: {model.model_id}" in (project / "models" / "dlnet" / "MLmodel").read_text()
    status = run_tool(["git", "status", "--porcelain"], project, check=True).stdout
    assert "models/" not in status
