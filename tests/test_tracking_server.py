"""`tracking=server`: runs and sweeps go to a real MLflow tracking server, artifacts included."""

from conftest import BIN, run_tool, sqlite_uri
from mlflow_ui import MlflowServer


def test_a_sweep_reaches_a_tracking_server(built_project, tmp_path):
    with MlflowServer(sqlite_uri(tmp_path / "server.db"), cwd=tmp_path, log_path=tmp_path / "server.log") as server:
        done = run_tool(
            [
                str(BIN / "dlnet-train"),
                "-m",
                "tracking=server",
                "optim.lr=0.1,0.3",
                "train.epochs=3",
                f"hydra.sweep.dir={tmp_path / 'sweep'}",
            ],
            built_project,
            timeout=300,
            MLFLOW_TRACKING_URI=server.url,
        )
        assert done.returncode == 0, done.stderr
        experiment = server.api("experiments/get-by-name", experiment_name="dlnet")["experiment"]
        runs = server.search_runs(experiment["experiment_id"])
        assert len(runs) == 3 and {r["info"]["status"] for r in runs} == {"FINISHED"}
        child = next(r for r in runs if r["info"]["run_name"] == "lr=0.3 h=15 full")
        params = {p["key"]: p["value"] for p in child["data"]["params"]}
        assert params["tracking.name"] == "server" and params["tracking.uri"] == server.url
        history = server.api("metrics/get-history", run_id=child["info"]["run_id"], metric_key="val/loss")
        assert [m["step"] for m in history["metrics"]] == [1, 2, 3]
        listed = server.api("artifacts/list", run_id=child["info"]["run_id"])
        assert {"loss_curve.png", "weights.npz"} <= {f["path"] for f in listed["files"]}
    assert not (built_project / "mlflow.db").exists()  # nothing went to the local store
