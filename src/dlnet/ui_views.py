"""The MLflow UI's addresses and saved views, as MLflow 3.17's UI reads them. Standard library only.

- The experiment's view follows the page's `workflowType` (URL parameter, else the browser's
  saved choice, else `genai`), not only the experiment's `mlflow.experimentKind` tag: a fresh
  browser opening `#/experiments/<id>` lands on the GenAI overview. `runs_url` asks for the
  model-training view with `?workflowType=machine_learning`.
- A saved view is an experiment tag `mlflow.sharedViewState.<id>` (what the UI's "Views" menu
  writes), opened with `viewStateShareKey=<id>`. Every sweep saves one: its runs, best first,
  with the swept params as columns, the loss curves overlaid and the parallel coordinates.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

MODEL_TRAINING = "machine_learning"  # the UI's workflowType for classic model training


def sweep_view_id(parent_run_id: str) -> str:
    return f"sweep-{parent_run_id}"


def runs_url(base: str, experiment_id: str, **params: Any) -> str:
    """The experiment's runs page in the model-training view, with optional search/view parameters."""
    query = {"workflowType": MODEL_TRAINING, **{k: v for k, v in params.items() if v is not None}}
    return f"{base}/#/experiments/{experiment_id}/runs?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"


def metric_key(name: str) -> str:
    """A metric as the UI's sort and column keys spell it: metrics.`val/accuracy`."""
    return f"metrics.`{name}`"


def param_key(name: str) -> str:
    return f"params.`{name}`"


# --- saved views: what the UI shows, stored on the experiment ------------------------------------

SAVED_VIEW_TAG = "mlflow.sharedViewState."  # + view id; the UI's "Views" menu lists these tags
RUNS_VIEW_ID = "dlnet-runs"  # the experiment's runs page, as `make ui` prints it
RUN_NAME_COLUMN = "attributes.`Run Name`"
# The run's name, its creation date with its status icon (MLflow has no separate status column), its duration.
FIXED_COLUMNS = (RUN_NAME_COLUMN, "runDateAndNestInfo", "duration")
# What a training run is judged by, as columns after the params.
RESULT_METRICS = ("val/accuracy", "val/loss", "epochs_run")
# Every training run logs `epochs_run`; a sweep's parent run logs none.
TRAINING_RUNS = "metrics.`epochs_run` > 0"


def run_columns(params: list[str], metrics: tuple[str, ...] | list[str] = RESULT_METRICS) -> dict[str, Any]:
    """Table state showing `params` then `metrics` as columns, after the run's name, date and duration."""
    selected = [*(param_key(p) for p in params), *(metric_key(m) for m in metrics)]
    return {
        "selectedColumns": selected,
        "columnOrder": [*FIXED_COLUMNS, *selected],
        "columnWidths": {RUN_NAME_COLUMN: 220},
    }


def runs_view_state(params: list[str], metric: str = "val/accuracy") -> dict[str, Any]:
    """The experiment's runs page: every training run, best `metric` first, `params` and results as columns.

    Sorted by creation time, the UI would nest a sweep's runs under its parent run, folded (a saved
    view cannot unfold them: MLflow 3.17 drops `runsExpanded` when it opens one); sorted by a
    metric, it lists them all.
    """
    return {
        "searchFilter": TRAINING_RUNS,
        "orderByKey": metric_key(metric),
        "orderByAsc": False,
        **run_columns(params),
        "runsHiddenMode": "SHOW_ALL",
        "hideEmptyCharts": True,
    }


def sweep_view_state(
    parent_run_id: str,
    *,
    params: list[str],
    metric: str = "val/accuracy",
    histories: tuple[str, ...] = ("val/loss", "train/loss"),
) -> dict[str, Any]:
    """The runs page's state for comparing one sweep's runs (MLflow 3.17's UI state format).

    Table: the sweep's runs only, best `metric` first, with the `params` and the results as
    columns. Charts, two a row: the first history per epoch overlaid across the runs, the
    parallel coordinates of the `params` against `metric`, the other histories, and `metric`
    against each numeric param as scatter plots (their axes fit the values; a bar chart's start at 0).
    """
    section = "dlnet-sweep"
    common = {"runsCountToCompare": 100, "deleted": False, "isGenerated": False, "metricSectionId": section}

    def line(key: str) -> dict[str, Any]:
        return {
            "uuid": f"dlnet-{key.replace('/', '-')}",
            "type": "LINE",
            "metricKey": key,
            "selectedMetricKeys": [key],
            "displayName": key,
            "xAxisKey": "step",
            "selectedXAxisMetricKey": "",
            "xAxisScaleType": "linear",
            "scaleType": "linear",
            "lineSmoothness": 0,
            "yAxisKey": "metric",
            "yAxisExpressions": [],
            "range": {},
            **common,
        }

    def scatter(param: str) -> dict[str, Any]:
        return {
            "uuid": f"dlnet-scatter-{param}",
            "type": "SCATTER",
            "xaxis": {"key": param, "type": "PARAM"},
            "yaxis": {"key": metric, "type": "METRIC"},
            "displayName": f"{metric} by {param}",
            **common,
        }

    parallel = {
        "uuid": "dlnet-parallel",
        "type": "PARALLEL",
        "selectedParams": list(params),
        "selectedMetrics": [metric],
        "displayName": "Parallel coordinates",
        "showAllRuns": True,
        **common,
    }
    numeric = [p for p in params if p in NUMERIC_PARAMS]
    charts = [line(histories[0]), parallel, *(line(key) for key in histories[1:]), *(scatter(p) for p in numeric)]
    return {
        "searchFilter": f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
        "orderByKey": metric_key(metric),
        "orderByAsc": False,
        **run_columns(params),
        "runsHiddenMode": "SHOW_ALL",  # chart every run of the sweep, not the first ten
        "compareRunCharts": charts,
        "compareRunSections": [
            {"uuid": section, "name": "sweep", "display": True, "isReordered": True, "columns": 2, "cardHeight": 420}
        ],
        "isAccordionReordered": True,
        "hideEmptyCharts": True,
    }


# Params whose values are numbers (a scatter plot's axis); the others are categories.
NUMERIC_PARAMS = {
    "optim.lr",
    "model.hidden_units",
    "batch.size",
    "train.epochs",
    "train.seed",
    "data.val_fraction",
    "data.test_fraction",
    "data.split_seed",
    "model.threshold",
}


def saved_view_tag(view_id: str, name: str, state: Mapping[str, Any], *, now_ms: int | None = None) -> tuple[str, str]:
    """The experiment tag (key, value) that saves `state` as the view `name`, opened by `view_url`."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    envelope = {"name": name, "createdAt": now_ms, "updatedAt": now_ms, "state": json.dumps(state)}
    return f"{SAVED_VIEW_TAG}{view_id}", json.dumps(envelope)


def view_url(base: str, experiment_id: str, view_id: str, *, charts: bool = False) -> str:
    return runs_url(base, experiment_id, viewStateShareKey=view_id, compareRunsMode="CHART" if charts else None)


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page, in the model-training view (a fresh browser opens the GenAI view otherwise)."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType={MODEL_TRAINING}"
