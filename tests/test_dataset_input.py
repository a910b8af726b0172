"""A run's training data as an MLflow dataset input: made once per process for each data set, and
linked to every run that trained on it (a real SQLite store)."""

from __future__ import annotations

import mlflow
import pandas as pd

from dlnet import tracking


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f1": [0.1 * i for i in range(rows)],
            "f2": [1.0 + i for i in range(rows)],
            "label": [i % 2 for i in range(rows)],
        }
    )


def test_runs_on_the_same_data_link_the_same_dataset_and_other_data_its_own(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.ensure_experiment(uri, "datasets")
    logged = [("a" * 64, frame(3)), ("a" * 64, frame(3)), ("b" * 64, frame(4))]
    run_ids = []
    for digest, data in logged:
        with tracking.run(uri, experiment_id, digest[0]) as logger:
            logger.log_dataset(
                data, name="toy-train", source="data/toy/train.csv", digest=digest, context="training", targets="label"
            )
            run_ids.append(logger.run_id)
    inputs = [mlflow.MlflowClient(uri).get_run(run_id).inputs.dataset_inputs for run_id in run_ids]
    assert [len(found) for found in inputs] == [1, 1, 1]
    datasets = [found[0].dataset for found in inputs]
    assert [d.digest for d in datasets] == ["a" * 36, "a" * 36, "b" * 36]
    assert all(d.name == "toy-train" and "f2" in d.schema and d.source_type == "local" for d in datasets)
    assert datasets[0].schema == datasets[2].schema and '"num_rows": 4' in datasets[2].profile
    assert [found[0].tags[0].value for found in inputs] == ["training"] * 3
    assert len({key for key in tracking._dataset_entities if key[0] == "toy-train"}) == 2  # one per data set
