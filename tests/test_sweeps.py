"""`dlnet-train` for real, in a subprocess: single runs and multirun sweeps tracked in MLflow."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from conftest import BIN, REPO, build_variants, copy_project, run_tool, sqlite_uri, tool_env
from mlflow.tracking import MlflowClient

from dlnet.tracking import ensure_experiment

TRAIN = str(BIN / "dlnet-train")
GRID = ["optim.lr=0.05,0.2", "model.hidden_units=3,8", "batch=full,mini,stochastic"]
EPOCHS = 4


def runs_of(uri: str) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dlnet")
    if experiment is None:
        return client, []
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def sweep(project, tmp_path, overrides, *extra):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            TRAIN,
            "-m",
            *overrides,
            f"train.epochs={EPOCHS}",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            *extra,
        ],
        project,
        timeout=400,
    )
    return uri, done


def check_sweep(uri: str, done, expected_children: int) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    client, runs = runs_of(uri)
    parents = [r for r in runs if r.data.tags.get("dlnet.sweep") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["dlnet.sweep.jobs"] == str(expected_children)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == expected_children == len(runs) - 1
    combos = set()
    for child in children:
        params, metrics = child.data.params, child.data.metrics
        assert child.info.status == "FINISHED"
        combos.add((params["optim.lr"], params["model.hidden_units"], params["batch.name"]))
        name = child.info.run_name
        assert f"lr={float(params['optim.lr']):g}" in name and f"h={params['model.hidden_units']}" in name
        for key in ("train/loss", "val/loss"):
            history = client.get_metric_history(child.info.run_id, key)
            assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, EPOCHS + 1))
        for key in (
            "train/accuracy",
            "val/accuracy",
            "test/accuracy",
            "val/f1",
            "test/roc_auc",
            "time/train_seconds",
            "epochs_run",
        ):
            assert key in metrics, key
        assert 0.0 <= metrics["val/accuracy"] <= 1.0
        assert child.data.tags["dlnet.scale"] == "standard" and "git.commit" in child.data.tags
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"config.yaml", "weights.npz", "scaler.json", "loss_curve.png", "confusion_matrix.png"} <= artifacts
    assert len(combos) == expected_children
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep_val_loss.png", "sweep_val_accuracy.png", "sweep_results.csv", "sweep_results.md"} <= parent_artifacts
    # the closing table lists every run, best validation accuracy first
    assert "Sweep finished: 12 runs, 12 finished, 0 diverged." in done.stdout


def test_grid_sweep_basic_launcher(built_project, tmp_path):
    uri, done = sweep(built_project, tmp_path, GRID)
    check_sweep(uri, done, 12)


def test_grid_sweep_joblib_launcher_on_a_new_store(built_project, tmp_path):
    uri, done = sweep(built_project, tmp_path, GRID, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    check_sweep(uri, done, 12)


def test_diverging_run_fails_and_the_sweep_goes_on(built_project, tmp_path):
    uri, done = sweep(built_project, tmp_path, ["optim.lr=0.1,5000", "batch=full,mini"])
    assert done.returncode == 0, done.stderr
    _, runs = runs_of(uri)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    by_lr = {}
    for child in children:
        by_lr.setdefault(child.data.params["optim.lr"], []).append(child)
    assert {r.info.status for r in by_lr["0.1"]} == {"FINISHED"}
    for failed in by_lr["5000.0"]:
        assert failed.info.status == "FAILED"
        assert failed.data.tags["dlnet.status_reason"].startswith("diverged:")
        assert int(failed.data.tags["dlnet.diverged_epoch"]) >= 0
    assert "4 runs, 2 finished, 2 diverged" in done.stdout


def test_two_sweeps_in_the_same_second_get_their_own_folders(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    run_tool([TRAIN, "optim.lr=0.1", "train.epochs=1", f"tracking.uri={uri}"], built_project, check=True)
    command = [TRAIN, "-m", "optim.lr=0.1", "train.epochs=2", f"tracking.uri={uri}"]
    first = subprocess.Popen(command, cwd=built_project, env=tool_env(), stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, cwd=built_project, env=tool_env(), stdout=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    folders = [
        line.rsplit("outputs in ", 1)[1] for out in outputs for line in out.splitlines() if "outputs in " in line
    ]
    assert len(folders) == 2 and folders[0] != folders[1]


def test_single_run_is_a_top_level_run(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            TRAIN,
            "optim.lr=0.3",
            "batch=mini",
            "train.epochs=3",
            f"tracking.uri={uri}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        built_project,
    )
    assert done.returncode == 0, done.stderr
    client, runs = runs_of(uri)
    assert len(runs) == 1 and "mlflow.parentRunId" not in runs[0].data.tags
    run = runs[0]
    assert run.info.run_name == "lr=0.3 h=15 mini" and run.info.status == "FINISHED"
    assert run.data.params["batch.size"] == "32" and run.data.params["data.name"] == "original"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.digest
    # one summary line: name, epochs, accuracies, time, run id
    assert "[lr=0.3 h=15 mini] 3 epochs, val acc" in done.stdout and run.info.run_id in done.stdout
    assert "\r" not in done.stdout + done.stderr  # no progress bar when not at a terminal


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optim.lr=-1", "optim.lr=-1.0 is not allowed"),
        ("model.hidden_units=0", "model.hidden_units=0 is not allowed"),
        ("batch.size=0", "batch.size"),
        ("optim.lr=fast", "optim.lr"),
        ("batch=huge", "batch/huge"),  # Hydra lists the options of the group
    ],
)
def test_bad_config_creates_no_run(built_project, tmp_path, override, expected):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    extra = ["batch=mini"] if override == "batch.size=0" else []
    done = run_tool([TRAIN, *extra, override, f"tracking.uri={uri}"], built_project)
    assert done.returncode != 0
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert runs_of(uri)[1] == []


def test_bad_value_in_a_sweep_starts_no_job(built_project, tmp_path):
    uri, done = sweep(built_project, tmp_path, ["optim.lr=0.1,-2"])
    assert done.returncode != 0
    assert "optim.lr=-2" in done.stderr
    assert runs_of(uri)[1] == []


def test_one_sweep_spans_data_sets_and_scalings(tmp_path):
    project = build_variants(copy_project(tmp_path / "project"), ("original", "wdbc"), ("standard", "minmax"))
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            TRAIN,
            "-m",
            "data=original,wdbc",
            "scale=standard,minmax",
            "optim.lr=0.01,0.3",
            "train.epochs=20",
            f"tracking.uri={uri}",
        ],
        project,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    client, runs = runs_of(uri)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 8 and all(r.info.status == "FINISHED" for r in children)
    digests = {}
    for child in children:
        variant = f"{child.data.params['data.variant']}-{child.data.params['scale.method']}"
        assert child.data.tags["dlnet.data.variant"] == variant
        assert child.data.tags["dlnet.dataset"] == child.data.params["data.name"]
        meta = json.loads((project / "data" / "scaled" / variant / "meta.json").read_text())
        assert (meta["dataset"], meta["scale"]) == (child.data.params["data.name"], child.data.params["scale.method"])
        # the features the run trained on are the variant's: 9 for the original file, 30 for WDBC
        assert child.data.params["data.variant"] in child.info.run_name and meta["scale"] in child.info.run_name
        digests.setdefault(variant, set()).add(child.data.tags["dlnet.data.digest"])
    assert len(digests) == 4 and all(len(d) == 1 for d in digests.values())
    assert len({d for ds in digests.values() for d in ds}) == 4  # four variants, four different data digests


def test_a_variant_not_built_gives_the_command_that_builds_it(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool([TRAIN, "scale=minmax", f"tracking.uri={uri}"], built_project)
    assert done.returncode == 2
    assert "original-minmax is not built" in done.stderr
    assert "`dvc repro scale@original-minmax`" in done.stderr
    assert "Traceback" not in done.stderr
    assert runs_of(uri)[1] == []


def test_data_no_variant_holds_names_the_difference(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool([TRAIN, "data.split_seed=3", f"tracking.uri={uri}"], built_project)
    assert done.returncode == 2
    assert "data.split_seed: built 0, asked 3" in done.stderr
    assert "`dvc exp run -S data.split_seed=3`" in done.stderr
    assert runs_of(uri)[1] == []


def test_data_never_built_says_run_dvc_repro(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    done = run_tool([TRAIN, f"tracking.uri={sqlite_uri(tmp_path / 'mlflow.db')}"], tmp_path)
    assert done.returncode == 2 and "dvc repro" in done.stderr


def interrupt_once_training(project, uri: str, args: list[str]) -> int:
    """Start `dlnet-train args`, press Ctrl-C once a run has logged losses; return the exit code."""
    ensure_experiment(uri, "dlnet")  # the store exists before two processes open it
    process = subprocess.Popen(
        [TRAIN, *args, f"tracking.uri={uri}"],
        cwd=project,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any("train/loss" in r.data.metrics for r in runs_of(uri)[1]):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("no run started training")
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode


def test_interrupted_run_ends_killed(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    args = ["batch=stochastic", "train.epochs=100000", f"hydra.run.dir={tmp_path / 'run'}"]
    assert interrupt_once_training(built_project, uri, args) == 130
    (run,) = runs_of(uri)[1]
    assert run.info.status == "KILLED"
    assert run.data.tags["dlnet.status_reason"].startswith("interrupted")


def test_interrupted_sweep_ends_its_runs_killed(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    args = [
        "-m",
        "optim.lr=0.1,0.2",
        "batch=stochastic",
        "train.epochs=100000",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    assert interrupt_once_training(built_project, uri, args) == 130
    runs = runs_of(uri)[1]
    assert {r.info.status for r in runs} == {"KILLED"}  # the parent and the one child that had started
    assert len(runs) == 2


def test_make_sweep_runs_the_27_run_grid(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    # `make sweep`, without rebuilding the environment this test already runs in (-o setup)
    overrides = f"ARGS=train.epochs=2 tracking.uri={uri} hydra.sweep.dir={tmp_path / 'sweep'}"
    done = run_tool(
        ["make", "-f", str(REPO / "Makefile"), "-o", "setup", "sweep", overrides], built_project, timeout=400
    )
    assert done.returncode == 0, done.stderr
    runs = runs_of(uri)[1]
    (parent,) = [r for r in runs if r.data.tags.get("dlnet.sweep") == "parent"]
    assert parent.info.run_name == "sweep lr(3) × h(3) × batch(3) = 27 runs"
    assert len(runs) == 28
    names = {r.info.run_name for r in runs}
    assert {"lr=0.01 h=4 full", "lr=0.07 h=15 mini", "lr=0.3 h=64 stochastic"} <= names


def test_progress_bar_at_a_terminal(built_project, tmp_path):
    """At a terminal (a pseudo-terminal from `script`), a run draws a progress bar with the loss."""
    uri = sqlite_uri(tmp_path / "mlflow.db")
    # The NumPy engine: compiled, 60 stochastic epochs end before the bar's first refresh.
    command = (
        f"stty cols 120 rows 40; {TRAIN} batch=stochastic train.engine=numpy train.epochs=60 "
        f"tracking.uri={uri} hydra.run.dir={tmp_path / 'run'}"
    )
    done = run_tool(["script", "-qec", command, str(tmp_path / "typescript")], built_project, timeout=300)
    assert done.returncode == 0, done.stdout
    screen = (tmp_path / "typescript").read_text(errors="replace")
    assert "epoch/s" in screen or "s/epoch" in screen, screen[-2000:]
    assert "loss 0." in screen and "/60 [" in screen
    assert "[lr=0.07 h=15 stochastic] 60 epochs" in screen
