"""tracking.metric_history answers for a run this process logged from what it sent: the same
points, in the same order, as the store gives back (a real SQLite store)."""

from __future__ import annotations

import math

import mlflow

from dlnet import tracking


def store_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in mlflow.MlflowClient(uri).get_metric_history(run_id, key)]


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return len(a) == len(b) and all(
        sa == sb and (va == vb or (math.isnan(va) and math.isnan(vb))) for (sa, va), (sb, vb) in zip(a, b, strict=True)
    )


def test_a_logged_run_s_histories_are_answered_as_the_store_holds_them(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.ensure_experiment(uri, "history")
    with tracking.run(uri, experiment_id, "r") as logger:
        for epoch in range(1, 1501):  # more than one batch of points
            logger.add_points(epoch, {"train/loss": 1 / epoch, "val/loss": math.nan if epoch == 7 else 2 / epoch})
        logger.add_points(1501, {"train/loss": math.inf, "val/loss": 0.5})  # the store clips inf
        logger.log_metrics({"val/accuracy": 0.97}, step=1501)
        logger.remember({"test/accuracy": 0.95}, step=1501)  # as the packaged model's metrics are
        mlflow.MlflowClient(uri).log_metric(logger.run_id, "test/accuracy", 0.95, step=1501)
        run_id = logger.run_id
    for key in ("val/loss", "val/accuracy", "test/accuracy"):
        assert tracking._sent[(uri, run_id, key)] is not None  # answered from memory
        remembered = tracking.metric_history(uri, run_id, key)
        assert same(remembered, store_history(uri, run_id, key)), key
    assert len(tracking.metric_history(uri, run_id, "val/loss")) == 1501
    # train/loss had an infinite point: the store's clipped value is what comes back.
    assert tracking._sent[(uri, run_id, "train/loss")] is None
    train = tracking.metric_history(uri, run_id, "train/loss")
    assert train == store_history(uri, run_id, "train/loss") and math.isfinite(train[-1][1])


def test_a_run_logged_elsewhere_is_read_from_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.ensure_experiment(uri, "history")
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(experiment_id).info.run_id
    for step in range(3):
        client.log_metric(run_id, "val/loss", 1.0 / (step + 1), step=step)
    assert tracking.metric_history(uri, run_id, "val/loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
