"""`make server`: PostgreSQL + `mlflow server` from nothing, a run logged through it, Ctrl-C, a
restart, and the run still there (its metrics and its proxied artifacts)."""

from __future__ import annotations

import shutil

import pytest
from conftest import BIN, run_tool
from mlflow.tracking import MlflowClient
from server_helpers import ServerProcess, server_folder

pytestmark = pytest.mark.e2e


def test_make_server_keeps_runs_across_a_restart(built_project, tmp_path):
    folder = server_folder()
    try:
        with ServerProcess(folder, via_make=True) as server:
            done = run_tool([str(BIN / "dlnet-train"), "train.epochs=3"], built_project, MLFLOW_TRACKING_URI=server.url)
            assert done.returncode == 0, done.stderr
            client = MlflowClient(server.url)
            experiment = client.get_experiment_by_name("dlnet")
            (run,) = client.search_runs([experiment.experiment_id])
            assert run.info.status == "FINISHED"
            assert experiment.artifact_location.startswith("mlflow-artifacts:")  # proxied by the server
            server.interrupt()  # make itself dies of the SIGINT; the server must stop cleanly under it
        assert not (folder / "pgdata" / "postmaster.pid").exists()  # PostgreSQL shut down cleanly
        assert "stopping the tracking server and PostgreSQL" in "".join(server.output)
        password = (folder / "password").read_text().strip()
        assert (folder / "password").stat().st_mode & 0o077 == 0
        assert password not in "".join(server.output)
        assert list((folder / "artifacts").rglob("weights.npz"))

        with ServerProcess(folder) as again:
            client = MlflowClient(again.url)
            same = client.get_run(run.info.run_id)
            assert same.info.status == "FINISHED" and same.data.params == run.data.params
            assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [1, 2, 3]
            fetched = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))
            assert "hidden_units" in open(fetched).read()
            assert again.interrupt() == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
