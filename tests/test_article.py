"""`experiment=article` reproduces the article's result: its data, split, scaling and 67,000 epochs.

Exercised the way the README says: `dvc exp run -S experiment=article` rebuilds the data as the
article did and trains (the DVC train stage), then `dlnet-train experiment=article` trains on it.
"""

import json

import pytest
import yaml
from conftest import BIN, copy_project, run_tool, sqlite_uri
from mlflow.tracking import MlflowClient


@pytest.mark.slow
def test_article_experiment_reaches_the_published_accuracy(tmp_path):
    project = copy_project(tmp_path / "project", git=True)
    env = {"PYTHONPATH": str(project / "src"), "DVC_NO_ANALYTICS": "1"}
    run_tool([str(BIN / "dvc"), "exp", "run", "-S", "experiment=article"], project, timeout=600, check=True, **env)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["split"] == "article" and params["scale"]["method"] == "minmax"
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 67000 and metrics["val/accuracy"] >= 0.98

    done = run_tool([str(BIN / "dlnet-train"), "experiment=article"], project, timeout=600)
    assert done.returncode == 0, done.stderr
    client = MlflowClient(tracking_uri=sqlite_uri(project / "mlflow.db"))
    runs = client.search_runs([client.get_experiment_by_name("dlnet").experiment_id])
    (run,) = [r for r in runs if r.data.tags["source"] == "hydra"]
    assert run.info.status == "FINISHED" and run.info.run_name == "article"
    assert run.data.tags["dlnet.data.variant"] == "article-minmax"
    assert run.data.metrics["epochs_run"] == 67000
    assert run.data.metrics["train/accuracy"] >= 0.98
    assert run.data.metrics["val/accuracy"] >= 0.98  # the article: 0.9945 (181 of 182)
    assert "test/accuracy" not in run.data.metrics  # the article's split has no test part
    assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 6700  # every 10th epoch

    # the experiment left the workspace able to run the default config too
    done = run_tool([str(BIN / "dlnet-train"), "train.epochs=5"], project, timeout=300)
    assert done.returncode == 0, done.stderr
