"""`experiment=article` reproduces the article's result: its data, split, scaling and 67,000 epochs."""

import pytest
from mlflow.tracking import MlflowClient

from conftest import BIN, build_data, copy_project, run_tool, sqlite_uri


@pytest.mark.slow
def test_article_experiment_reaches_the_published_accuracy(tmp_path):
    project = build_data(copy_project(tmp_path / "project"), ["experiment=article"])
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool([str(BIN / "dlnet-train"), "experiment=article", f"tracking.uri={uri}"], project, timeout=600)
    assert done.returncode == 0, done.stderr
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("dlnet").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["epochs_run"] == 67000
    assert run.data.metrics["train/accuracy"] >= 0.98
    assert run.data.metrics["val/accuracy"] >= 0.98  # the article: 0.9945 (181 of 182)
    assert "test/accuracy" not in run.data.metrics  # the article's split has no test part
    assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 6700  # every 10th epoch
