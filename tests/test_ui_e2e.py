"""End to end: a real sweep, served by a real MLflow server, seen in a real (headless) browser.

One small sweep (2 learning rates × 2 widths × 2 batch strategies = 8 runs) goes into a
SQLite store; `mlflow server` serves it on loopback. The REST API must hold the parent run
and its eight children with their params and full loss histories; Chromium must render the
experiment's runs page in the model-training view with the runs listed by name, and the
parent run must expand to its children. Chromium is Debian's `chromium` (.ci/run installs
it): without it these tests fail, they do not skip.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlnet import browser
from conftest import BIN, run_tool, sqlite_uri

pytestmark = pytest.mark.e2e

LRS = ("0.05", "0.3")
WIDTHS = ("4", "15")
BATCHES = ("full", "mini")
EPOCHS = 12
HISTORIES = ("train/loss", "val/loss")
PARENT_NAME = "sweep lr(2) × h(2) × batch(2) = 8 runs"


def child_name(lr: str, width: str, batch: str) -> str:
    return f"lr={float(lr):g} h={width} {batch}"


EXPECTED_CHILDREN = {child_name(*combo) for combo in itertools.product(LRS, WIDTHS, BATCHES)}


@dataclass
class Served:
    server: browser.MlflowServer
    experiment_id: str
    parent: dict
    children: list[dict]


def chromium_or_fail() -> None:
    """CI installs Chromium: its absence is a failure, never a skip."""
    if browser.find_chromium() is None:
        pytest.fail(browser.MISSING_CHROMIUM, pytrace=False)


@pytest.fixture(scope="module")
def served(built_project, tmp_path_factory):
    """The sweep's store behind `mlflow server` on 127.0.0.1 (stopped by its pid at the end)."""
    folder = tmp_path_factory.mktemp("ui")
    store = folder / "mlflow.db"
    run_tool(
        [str(BIN / "dlnet-train"), "-m", f"optim.lr={','.join(LRS)}", f"model.hidden_units={','.join(WIDTHS)}",
         f"batch={','.join(BATCHES)}", f"train.epochs={EPOCHS}", f"tracking.uri={sqlite_uri(store)}",
         f"hydra.sweep.dir={folder / 'sweep'}"],
        built_project, timeout=300, check=True,
    )
    server = browser.MlflowServer(sqlite_uri(store), log_path=folder / "mlflow-server.log", cwd=folder)
    with server:
        experiment = server.api("experiments/get-by-name", experiment_name="dlnet")["experiment"]
        experiment_id = experiment["experiment_id"]
        parents = server.search_runs(experiment_id, "tags.`dlnet.sweep` = 'parent'")
        assert len(parents) == 1, parents
        parent = parents[0]
        children = server.search_runs(experiment_id, f"tags.`mlflow.parentRunId` = '{parent['info']['run_id']}'")
        yield Served(server, experiment_id, parent, children)


def as_dict(items: list[dict] | None) -> dict[str, str]:
    return {item["key"]: item["value"] for item in items or []}


def test_rest_api_serves_the_sweep_with_its_params_and_loss_histories(served):
    server = served.server
    experiment = server.api("experiments/get", experiment_id=served.experiment_id)["experiment"]
    assert as_dict(experiment.get("tags"))["mlflow.experimentKind"] == "custom_model_development"
    assert served.parent["info"]["run_name"] == PARENT_NAME
    assert served.parent["info"]["status"] == "FINISHED"

    combos = set()
    for child in served.children:
        info, data = child["info"], child["data"]
        params, metrics = as_dict(data.get("params")), as_dict(data.get("metrics"))
        assert info["status"] == "FINISHED", info
        combos.add((params["optim.lr"], params["model.hidden_units"], params["batch.name"]))
        assert info["run_name"] == child_name(params["optim.lr"], params["model.hidden_units"], params["batch.name"])
        assert 0.0 <= float(metrics["val/accuracy"]) <= 1.0
        for key in HISTORIES:
            history = server.api("metrics/get-history", run_id=info["run_id"], metric_key=key, max_results=25000)
            steps = sorted(point["step"] for point in history["metrics"])
            assert steps == list(range(1, EPOCHS + 1)), (info["run_name"], key, steps)
        artifacts = server.api("artifacts/list", run_id=info["run_id"])
        assert {"loss_curve.png", "confusion_matrix.png", "config.yaml"} <= {f["path"] for f in artifacts["files"]}
    assert combos == set(itertools.product(LRS, WIDTHS, BATCHES))
    assert {c["info"]["run_name"] for c in served.children} == EXPECTED_CHILDREN


def rendered_text(url: str, expected: set[str]) -> tuple[str, str, str]:
    """(title, visible text, DOM) of the page; rendered a second time, with more time, if runs are missing."""
    for budget in (browser.RENDER_BUDGET_MS, 2 * browser.RENDER_BUDGET_MS):
        dom = browser.render_dom(url, budget_ms=budget)
        title, lines = browser.page_text(dom)
        text = "\n".join(lines)
        if all(name in lines for name in expected):
            break
    return title, text, dom


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_runs_page_shows_the_sweep_in_the_model_training_view(served, tmp_path):
    chromium_or_fail()
    server, experiment_id = served.server, served.experiment_id
    parent_id = served.parent["info"]["run_id"]

    # As it opens: the parent run, its children folded under it.
    title, text, dom = rendered_text(browser.runs_url(server.url, experiment_id), {PARENT_NAME})
    assert title.startswith("Runs - "), f"not the runs table (GenAI view?): {title!r}\n{text[:2000]}"
    assert PARENT_NAME in text.splitlines(), f"the runs page shows no runs:\n{text[:3000]}"
    assert f"#/experiments/{experiment_id}/runs/{parent_id}" in dom
    assert "9 matching runs" in " ".join(text.split()), text[:3000]

    # Sorted by validation accuracy the table is flat: every run of the sweep, by name.
    flat = browser.runs_url(server.url, experiment_id, orderByKey=browser.metric_key("val/accuracy"), orderByAsc="false")
    title, text, dom = rendered_text(flat, EXPECTED_CHILDREN | {PARENT_NAME})
    missing = sorted(name for name in EXPECTED_CHILDREN | {PARENT_NAME} if name not in text.splitlines())
    assert not missing, f"runs missing from the page: {missing}\n{text[:3000]}"
    for child in served.children:
        assert f"#/experiments/{experiment_id}/runs/{child['info']['run_id']}" in dom

    screenshot = browser.render_screenshot(flat, tmp_path / "mlflow-runs.png")
    assert png_size(screenshot) == browser.WINDOW


def test_parent_run_expands_to_its_children(served, tmp_path):
    chromium_or_fail()
    server, experiment_id = served.server, served.experiment_id
    parent_id = served.parent["info"]["run_id"]
    parent_link = f'a[href$="/runs/{parent_id}"]'
    with browser.DevToolsPage() as page:
        page.goto(browser.runs_url(server.url, experiment_id))
        page.wait_for(f"!!document.querySelector('{parent_link}')", what="the parent run's row")
        assert not any(name in page.text() for name in EXPECTED_CHILDREN), "children shown before expanding"
        clicked = page.evaluate(f"""(() => {{
            const cell = document.querySelector('{parent_link}').closest('[role=gridcell]');
            const expander = cell && cell.querySelector('button');
            if (!expander) return false;
            expander.click();
            return true;
        }})()""")
        assert clicked, "the parent run has no expander"
        names = sorted(EXPECTED_CHILDREN)
        page.wait_for(f"{names!r}.every(name => document.body.innerText.includes(name))",
                      what="the children under the expanded parent")
        page.screenshot(tmp_path / "mlflow-runs-expanded.png")
        # Nested: each child row sits below its parent's row.
        rows = page.evaluate("""[...document.querySelectorAll('.ag-center-cols-container [role=row], .ag-pinned-left-cols-container [role=row]')]
            .map(row => [row.getAttribute('row-index'), row.innerText]).filter(([i, t]) => t.trim())""")
    order = {}
    for index, row_text in rows:
        for name in [PARENT_NAME, *names]:
            if name in row_text:
                order[name] = int(index)
    assert set(order) == {PARENT_NAME, *names}, rows
    assert all(order[name] > order[PARENT_NAME] for name in names), order


def test_the_sweep_saves_a_comparison_view(served, tmp_path):
    """The sweep's own view: its runs, the loss charts overlaid and the parallel coordinates."""
    chromium_or_fail()
    server, experiment_id = served.server, served.experiment_id
    view_id = browser.sweep_view_id(served.parent["info"]["run_id"])
    experiment = server.api("experiments/get", experiment_id=experiment_id)["experiment"]
    saved = as_dict(experiment.get("tags"))
    assert f"mlflow.sharedViewState.{view_id}" in saved
    with browser.DevToolsPage() as page:
        page.goto(browser.view_url(server.url, experiment_id, view_id, charts=True))
        names = sorted(EXPECTED_CHILDREN)
        page.wait_for(
            f"{names!r}.every(name => document.body.innerText.includes(name))"
            " && document.body.innerText.includes('Parallel Coordinates')"
            " && document.querySelectorAll('.js-plotly-plot').length >= 2",
            what="the sweep's runs, its loss charts and the parallel coordinates",
        )
        text = page.text()
        page.screenshot(tmp_path / "mlflow-compare.png")
    assert "val/loss" in text and "train/loss" in text
