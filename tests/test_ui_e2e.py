"""End to end: a real sweep, served by `make ui`'s server, seen in a real (headless) browser.

One small sweep (2 learning rates × 2 widths × 2 batch strategies = 8 runs, 12 epochs) goes into a
SQLite store; `python -m dlnet.ui` (what `make ui` runs) saves the runs page, prints its addresses
and serves the store on loopback. Every address dlnet printed (the sweep's report, `make ui`'s
lines) is opened in Debian's Chromium through Playwright, in a fresh browser as a new user would,
and must show what the README promises. Without Chromium these tests fail, they do not skip.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from dataclasses import dataclass

import pytest
from conftest import BIN, run_tool, sqlite_uri
from mlflow_ui import MISSING_CHROMIUM, DlnetUi, chromium, close_assistant, find_chromium, open_page

pytestmark = pytest.mark.e2e

LRS = ("0.05", "0.3")
WIDTHS = ("4", "15")
BATCHES = ("full", "mini")
EPOCHS = 12
PARENT_NAME = "sweep lr(2) × h(2) × batch(2) = 8 runs"
SWEPT_COLUMNS = ("optim.lr", "model.hidden_units", "batch.name")
RESULT_COLUMNS = ("val/accuracy", "val/loss", "epochs_run")
FIXED_COLUMNS = ("Run Name", "Created", "Duration")


def child_name(lr: str, width: str, batch: str) -> str:
    return f"lr={float(lr):g} h={width} {batch}"


EXPECTED_CHILDREN = {child_name(*combo) for combo in itertools.product(LRS, WIDTHS, BATCHES)}


@dataclass
class Served:
    ui: DlnetUi
    experiment_id: str
    parent: dict
    children: list[dict]
    sweep_printed: dict[str, str]  # runs / charts / best run: the addresses the sweep's report printed
    ui_printed: list[str]  # the addresses `make ui` printed


def on_server(address: str, base: str) -> str:
    """A printed address (for the default port) on the test's server."""
    parts = urllib.parse.urlsplit(address)
    return base + address[len(f"{parts.scheme}://{parts.netloc}") :]


@pytest.fixture(scope="module")
def served(built_project, tmp_path_factory):
    if find_chromium() is None:
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    folder = tmp_path_factory.mktemp("ui")
    store = sqlite_uri(folder / "mlflow.db")
    done = run_tool(
        [
            str(BIN / "dlnet-train"),
            "-m",
            f"optim.lr={','.join(LRS)}",
            f"model.hidden_units={','.join(WIDTHS)}",
            f"batch={','.join(BATCHES)}",
            f"train.epochs={EPOCHS}",
            f"tracking.uri={store}",
            f"hydra.sweep.dir={folder / 'sweep'}",
        ],
        built_project,
        timeout=300,
        check=True,
    )
    sweep_printed = dict(re.findall(r"^\s+(runs|charts|best run):\s+(http\S+)$", done.stdout, re.M))
    assert set(sweep_printed) == {"runs", "charts", "best run"}, done.stdout
    with DlnetUi(store, log_path=folder / "ui.log", cwd=folder) as ui:
        experiment_id = ui.api("experiments/get-by-name", experiment_name="dlnet")["experiment"]["experiment_id"]
        (parent,) = ui.search_runs(experiment_id, "tags.`dlnet.sweep` = 'parent'")
        children = ui.search_runs(experiment_id, f"tags.`mlflow.parentRunId` = '{parent['info']['run_id']}'")
        yield Served(ui, experiment_id, parent, children, sweep_printed, ui.printed())


def as_dict(items: list[dict] | None) -> dict[str, str]:
    return {item["key"]: item["value"] for item in items or []}


@pytest.fixture(scope="module")
def browser(served):
    with chromium() as launched:
        yield launched


def wait_for_texts(page, texts) -> None:
    for text in texts:
        page.get_by_text(text, exact=True).first.wait_for(state="visible")


def header_names(page) -> list[str]:
    page.locator("[role=columnheader]").first.wait_for()
    return [name.strip() for name in page.locator("[role=columnheader]").all_inner_texts()]


def row_names(page) -> list[str]:
    """The run names in the table, top to bottom."""
    rows = page.locator(".ag-pinned-left-cols-container [role=row], .ag-center-cols-container [role=row]")
    found = {}
    for row in rows.all():
        index, text = row.get_attribute("row-index"), row.inner_text()
        for name in EXPECTED_CHILDREN | {PARENT_NAME}:
            if name in text.splitlines():
                found[name] = int(index)
    return sorted(found, key=found.get)


def assert_model_training_view(page) -> None:
    """The experiment's sidebar of the model-training view (Runs, Models), not the GenAI one."""
    page.get_by_role("link", name="Runs", exact=True).first.wait_for(state="visible")
    assert page.get_by_text("Evaluation runs", exact=True).count() == 0


def test_the_sweep_and_its_parent_params_reach_the_server(served):
    parent = served.parent
    assert parent["info"]["run_name"] == PARENT_NAME and parent["info"]["status"] == "FINISHED"
    params = as_dict(parent["data"].get("params"))
    # The fixed values every run shares, and what was swept; not the swept values themselves.
    assert params["sweep.keys"] == "optim.lr, model.hidden_units, batch"
    assert params["train.epochs"] == str(EPOCHS) and params["data.name"] == "original"
    assert "optim.lr" not in params and "batch.name" not in params
    assert {c["info"]["run_name"] for c in served.children} == EXPECTED_CHILDREN
    assert {c["info"]["status"] for c in served.children} == {"FINISHED"}


def test_the_sweep_view_is_named_for_when_and_what(served):
    tags = as_dict(served.ui.api("experiments/get", experiment_id=served.experiment_id)["experiment"].get("tags"))
    envelope = tags[f"mlflow.sharedViewState.sweep-{served.parent['info']['run_id']}"]
    name = json.loads(envelope)["name"]
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d · {re.escape(PARENT_NAME)} · epochs={EPOCHS}", name), name


def test_make_ui_prints_the_runs_page_listing_every_training_run_with_its_columns(served, browser):
    runs_page = served.ui_printed[0]
    assert "workflowType=machine_learning" in runs_page and "viewStateShareKey=dlnet-runs" in runs_page
    with open_page(browser, on_server(runs_page, served.ui.url)) as page:
        wait_for_texts(page, sorted(EXPECTED_CHILDREN))
        assert_model_training_view(page)
        close_assistant(page)  # MLflow opens it once per new browser; the columns need its width
        headers = header_names(page)
        for column in (*FIXED_COLUMNS, *SWEPT_COLUMNS, "train.epochs", *RESULT_COLUMNS):
            assert column in headers, (column, headers)
        # Every training run is a row (best first, not folded under its parent); the parent is not.
        assert set(row_names(page)) == EXPECTED_CHILDREN
        # The status: MLflow shows it as the icon beside each run's creation date.
        icons = page.locator('[role=gridcell][col-id="runDateAndNestInfo"] [role="img"]')
        assert icons.count() == len(EXPECTED_CHILDREN)


def test_the_sweep_runs_address_lists_its_runs_best_first(served, browser):
    view = on_server(served.sweep_printed["runs"], served.ui.url)
    assert "workflowType=machine_learning" in view
    accuracy = {c["info"]["run_name"]: float(as_dict(c["data"]["metrics"])["val/accuracy"]) for c in served.children}
    with open_page(browser, view) as page:
        wait_for_texts(page, sorted(EXPECTED_CHILDREN))
        assert_model_training_view(page)
        close_assistant(page)
        headers = header_names(page)
        for column in (*FIXED_COLUMNS, *SWEPT_COLUMNS, *RESULT_COLUMNS):
            assert column in headers, (column, headers)
        shown = row_names(page)
        assert set(shown) == EXPECTED_CHILDREN
        assert [accuracy[name] for name in shown] == sorted(accuracy.values(), reverse=True)
        # The Views menu names the open view: when and what.
        assert page.get_by_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d · sweep lr\(2\)")).count() >= 1


def chart_card(page, title: str):
    return page.locator('[data-testid="experiment-view-compare-runs-card"]').filter(
        has=page.get_by_text(title, exact=True)
    )


def scroll_to_card(page, title: str, tries: int = 20):
    """The chart card titled `title`; the UI draws cards only once scrolled into view."""
    card = chart_card(page, title)
    for _ in range(tries):
        if card.count():
            card.first.scroll_into_view_if_needed()
            return card.first
        page.locator('[data-testid="experiment-view-compare-runs-card"]').last.hover()
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(500)
    titles = [
        text.splitlines()[0]
        for text in page.locator('[data-testid="experiment-view-compare-runs-card"]').all_inner_texts()
    ]
    raise AssertionError(f"no chart {title!r} on the page, only {titles}")


def test_the_sweep_charts_fit_the_values_and_overlay_the_losses(served, browser, tmp_path):
    view = on_server(served.sweep_printed["charts"], served.ui.url)
    assert "compareRunsMode=CHART" in view
    accuracies = [float(as_dict(c["data"]["metrics"])["val/accuracy"]) for c in served.children]
    with open_page(browser, view) as page:
        wait_for_texts(page, ["val/loss", "train/loss", "Parallel Coordinates"])
        assert_model_training_view(page)
        close_assistant(page)
        for title in ("val/loss", "train/loss"):  # one line per run, overlaid in one chart
            card = chart_card(page, title)
            card.locator(".js-plotly-plot").first.wait_for()
            legend = card.inner_text()
            assert all(f"{name} ({title})" in legend for name in EXPECTED_CHILDREN), legend
        scatter = scroll_to_card(page, "optim.lr vs. val/accuracy")
        scatter.locator(".ytick text").first.wait_for()
        ticks = [float(t) for t in scatter.locator(".ytick text").all_text_contents()]  # SVG: no innerText
        page.screenshot(path=str(tmp_path / "charts.png"))
    # The accuracy axis fits the runs' values instead of running from 0 to 1.
    assert min(ticks) > min(accuracies) - 0.1 and max(ticks) < max(accuracies) + 0.1, (ticks, accuracies)
    assert max(ticks) - min(ticks) < 0.5, ticks


def test_the_sweep_view_charts_no_noise(served):
    tags = as_dict(served.ui.api("experiments/get", experiment_id=served.experiment_id)["experiment"].get("tags"))
    state = json.loads(json.loads(tags[f"mlflow.sharedViewState.sweep-{served.parent['info']['run_id']}"])["state"])
    charted = {c.get("metricKey") or c.get("yaxis", {}).get("key") or c["type"] for c in state["compareRunCharts"]}
    assert "epochs_run" not in charted and "BAR" not in {c["type"] for c in state["compareRunCharts"]}


def test_the_best_run_address_opens_the_run_in_the_model_training_view(served, browser):
    address = on_server(served.sweep_printed["best run"], served.ui.url)
    best = max(served.children, key=lambda c: float(as_dict(c["data"]["metrics"])["val/accuracy"]))
    assert best["info"]["run_id"] in address and "workflowType=machine_learning" in address
    with open_page(browser, address) as page:
        wait_for_texts(page, [best["info"]["run_name"], "Finished"])
        assert_model_training_view(page)
        # The breadcrumb leads back to the runs table, not to GenAI evaluations.
        assert page.get_by_role("link", name="Runs", exact=True).count() >= 1
        assert page.get_by_text("Evaluations", exact=True).count() == 0


def test_the_parent_run_page_shows_its_params(served, browser):
    run_page = on_server(served.sweep_printed["best run"], served.ui.url).replace(
        served.sweep_printed["best run"].split("/runs/")[1].split("?")[0], served.parent["info"]["run_id"]
    )
    with open_page(browser, run_page) as page:
        wait_for_texts(page, [PARENT_NAME])
        assert_model_training_view(page)
        page.get_by_text("sweep.keys", exact=True).first.scroll_into_view_if_needed()
        text = page.inner_text("body")
    assert "sweep.keys" in text and "optim.lr, model.hidden_units, batch" in text
    assert "train.epochs" in text
