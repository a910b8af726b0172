"""Where runs go (tracking.uri, else MLFLOW_TRACKING_URI, else the project's SQLite store),
what never reaches MLflow or the console (a URI's password, this machine's absolute paths),
and how fast an unreachable tracking server fails a run."""

from __future__ import annotations

import json
import socket
import time

import pytest
from conftest import BIN, run_tool, sqlite_uri
from mlflow.tracking import MlflowClient

from dlnet import exits
from dlnet.mlflow_server import MlflowServer, free_port
from dlnet.tracking import local_store_uri, store_uri
from dlnet.uris import portable_params, redact

TRAIN = str(BIN / "dlnet-train")


def test_store_uri_convention(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store_uri(tmp_path) == local_store_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5555")
    assert store_uri(tmp_path) == "http://127.0.0.1:5555"
    assert store_uri(tmp_path, "sqlite:///other.db") == "sqlite:///other.db"


def test_redact_and_portable_params():
    assert (
        redact("postgresql+psycopg://dlnet:pa55@127.0.0.1:5433/mlflow")
        == "postgresql+psycopg://dlnet:***@127.0.0.1:5433/mlflow"
    )
    assert redact("see http://u:p@h:1/x and https://h/y") == "see http://u:***@h:1/x and https://h/y"
    assert redact("sqlite:////srv/p/mlflow.db") == "sqlite:////srv/p/mlflow.db"
    params, tags = portable_params(
        {
            "tracking.uri": "sqlite:////srv/p/mlflow.db",
            "data.raw": "/elsewhere/raw.data",
            "optim.lr": 0.1,
            "x": "http://u:secret@h",
        },
        "/srv/p",
    )
    assert params == {
        "tracking.uri": "sqlite:///mlflow.db",
        "data.raw": "raw.data",
        "optim.lr": 0.1,
        "x": "http://u:***@h",
    }
    assert tags == {
        "dlnet.local.tracking.uri": "sqlite:////srv/p/mlflow.db",
        "dlnet.local.data.raw": "/elsewhere/raw.data",
    }


def test_mlflow_tracking_uri_is_honoured_and_tracking_uri_wins(built_project, tmp_path):
    env_store, config_store = sqlite_uri(tmp_path / "env.db"), sqlite_uri(tmp_path / "config.db")
    done = run_tool([TRAIN, "train.epochs=2"], built_project, MLFLOW_TRACKING_URI=env_store)
    assert done.returncode == 0, done.stderr
    done = run_tool(
        [TRAIN, "train.epochs=2", f"tracking.uri={config_store}"], built_project, MLFLOW_TRACKING_URI=env_store
    )
    assert done.returncode == 0, done.stderr
    for uri in (env_store, config_store):
        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("dlnet").experiment_id])
        assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert not (built_project / "mlflow.db").exists()


@pytest.mark.e2e
def test_credentials_and_machine_paths_never_logged(built_project, tmp_path):
    """A sweep against a server whose URI carries a password: not in any param, tag, artifact or line."""
    secret = "s3cret-Pa55"
    with MlflowServer(sqlite_uri(tmp_path / "server.db"), cwd=tmp_path, log_path=tmp_path / "server.log") as server:
        uri = server.url.replace("http://", f"http://alice:{secret}@")
        done = run_tool(
            [
                TRAIN,
                "-m",
                "tracking=server",
                "optim.lr=0.1,0.3",
                "train.epochs=2",
                f"hydra.sweep.dir={tmp_path / 'sweep'}",
            ],
            built_project,
            MLFLOW_TRACKING_URI=uri,
        )
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout + done.stderr
        assert "alice:***@" in done.stdout  # the sweep's report names the store, redacted
        client = MlflowClient(server.url)
        experiment = client.get_experiment_by_name("dlnet")
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 3
        for run in runs:
            everything = json.dumps({"params": run.data.params, "tags": run.data.tags})
            assert secret not in everything
            for value in run.data.params.values():
                assert not value.startswith("/") and str(tmp_path) not in value and str(built_project) not in value
            for artifact in client.list_artifacts(run.info.run_id):
                if artifact.path.endswith((".yaml", ".csv", ".md", ".json")):
                    text = MlflowClient(server.url).download_artifacts(run.info.run_id, artifact.path, str(tmp_path))
                    assert secret not in open(text).read(), artifact.path
        child = next(r for r in runs if r.data.tags.get("dlnet.sweep") != "parent")
        assert child.data.params["tracking.uri"] == uri.replace(secret, "***")
        assert child.data.tags["hydra.output_dir"].startswith(str(tmp_path))  # machine paths stay tags


def _unreachable(project, uri, *extra):
    started = time.monotonic()
    done = run_tool([TRAIN, *extra, "train.epochs=2", f"tracking.uri={uri}"], project, timeout=120)
    return done, time.monotonic() - started


@pytest.mark.parametrize("mode", ["refused", "silent"])
def test_an_unreachable_server_fails_fast_in_one_line(built_project, tmp_path, mode):
    with socket.socket() as silent:
        if mode == "silent":  # accepts connections (the kernel's backlog) and never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
        else:
            port = free_port()
        uri = f"http://bob:hunter2@127.0.0.1:{port}"
        for extra in ([], ["-m", "optim.lr=0.1,0.2", f"hydra.sweep.dir={tmp_path / mode}"]):
            done, seconds = _unreachable(built_project, uri, *extra)
            assert done.returncode == exits.TRACKING_FAILED
            assert seconds < 30, seconds
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert f"http://bob:***@127.0.0.1:{port}" in lines[0] and "cannot be reached" in lines[0]
            assert "hunter2" not in done.stdout + done.stderr
    assert not (built_project / "mlflow.db").exists()
