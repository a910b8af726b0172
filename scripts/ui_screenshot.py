"""Make the README's screenshots of the MLflow UI from a real sweep.

    python scripts/ui_screenshot.py [--out docs] [--epochs N] [--workdir DIR]

Runs the project's sweep (`dlnet-train +sweep=grid`: 3 learning rates × 3 widths × 3 batch
strategies = 27 runs) into a new MLflow store in a temporary folder, serves the store with
`mlflow server` on 127.0.0.1, and photographs the UI with headless Chromium:

  mlflow-runs.png     the runs table: the sweep's parent run expanded to its runs, with the
                      swept params and the validation metrics as columns
  mlflow-compare.png  the sweep's saved view in chart mode: the train and validation losses
                      per epoch, overlaid across the runs, and the parallel coordinates of
                      lr / hidden units / batch against validation accuracy

Every sweep saves its comparison view on the experiment, the way the UI's "Views" menu saves one
(an experiment tag); the script opens it, and opens the runs table as a user leaves it after
choosing the columns and expanding the parent run. The project's data must be built (`make repro`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlnet import browser

ROOT = Path(__file__).resolve().parents[1]
SWEPT = ["optim.lr", "model.hidden_units", "batch.name"]
METRICS = ["val/accuracy", "val/loss", "test/accuracy"]


def run_sweep(project: Path, store: Path, sweep_dir: Path, epochs: int | None) -> None:
    train = Path(sys.executable).parent / "dlnet-train"
    args = [str(train), "-m", "+sweep=grid", f"tracking.uri=sqlite:///{store.resolve()}", f"hydra.sweep.dir={sweep_dir}"]
    if epochs:
        args.append(f"train.epochs={epochs}")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    print("$ dlnet-train", " ".join(args[1:]), flush=True)
    started = time.monotonic()
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the sweep failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"sweep done in {time.monotonic() - started:.0f} s", flush=True)


def experiment_page_state(parent_run_id: str) -> dict:
    """The runs page as a user leaves it after choosing columns and expanding the sweep's parent run.

    MLflow 3.17's UI keeps this per experiment in the browser's local storage.
    """
    return {
        "searchFilter": "", "orderByKey": "attributes.start_time", "orderByAsc": False, "startTime": "ALL",
        "lifecycleFilter": "Active", "datasetsFilter": [], "modelVersionFilter": "All Runs",
        **browser.run_columns(SWEPT, METRICS),
        "runsExpanded": {parent_run_id: True}, "runsPinned": [], "runsHidden": [], "runsVisibilityMap": {},
        "runsHiddenMode": "SHOW_ALL", "viewMaximized": False, "runListHidden": False, "isAccordionReordered": False,
        "useGroupedValuesInCharts": True, "hideEmptyCharts": True, "groupBy": None, "groupsExpanded": {},
        "autoRefreshEnabled": False,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }


def prepare_browser(page: browser.DevToolsPage, base: str, experiment_id: str, parent_run_id: str) -> None:
    """Local storage of a returning user: the AI assistant's panel closed, the runs page as left."""
    page.goto(f"{base}/health")  # same origin as the UI, without starting the app
    page.wait_for("document.readyState === 'complete'")
    items = {
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
        "mlflow.assistant.panelOpen_v1": False,
        "mlflow.workflowType_v1": browser.MODEL_TRAINING,
        f'MLflowLocalStorage-1.1-ExperimentPage-["{experiment_id}"]-ReactComponentState':
            experiment_page_state(parent_run_id),
    }
    page.evaluate(f"""(() => {{
        const items = {json.dumps({k: json.dumps(v) for k, v in items.items()})};
        for (const [key, value] of Object.entries(items)) localStorage.setItem(key, value);
        return true;
    }})()""")


def waiting(page: browser.DevToolsPage, expression: str, what: str, out: Path) -> None:
    """Wait for the page; if it never comes, keep what it showed (`*.failed.png`) and stop."""
    try:
        page.wait_for(expression, what=what)
    except browser.BrowserError as error:
        failed = page.screenshot(out.with_suffix(".failed.png"))
        sys.exit(f"{error}; the page as it was: {failed}")


def all_shown(names: list[str]) -> str:
    return f"{json.dumps(names)}.every(name => document.body.innerText.includes(name))"


def shoot_runs(page, base, experiment_id, parent, children, out: Path) -> Path:
    page.goto(browser.runs_url(base, experiment_id))
    names = [parent["info"]["run_name"], *(c["info"]["run_name"] for c in children), "val/accuracy"]
    waiting(page, all_shown(names), "the expanded parent run, its children and the chosen columns", out)
    page.settle(2)
    return page.screenshot(out)


def shoot_compare(page, base, experiment_id, view_id, children, out: Path) -> Path:
    page.goto(browser.view_url(base, experiment_id, view_id, charts=True))
    dismiss = '[data-component-id="mlflow.experiment_page.shared_view.dismiss"]'
    waiting(page, f"!!document.querySelector('{dismiss}')", "the saved view", out)
    page.evaluate(f"document.querySelector('{dismiss}').click(), true")
    names = [c["info"]["run_name"] for c in children]
    charts_drawn = """(() => {
        const cards = [...document.querySelectorAll('[data-testid="experiment-view-compare-runs-card"]')];
        const parallel = cards.find(card => card.innerText.includes('Parallel Coordinates'));
        return document.querySelectorAll('.js-plotly-plot').length >= 2
            && !!parallel && !!parallel.querySelector('canvas');  // its lines are drawn with WebGL
    })()"""
    waiting(page, f"{all_shown(names)} && {charts_drawn}", "the sweep's line charts and parallel coordinates", out)
    page.settle(3)
    return page.screenshot(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default: docs/)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the project to train in (default: this one)")
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs for every run (default: the config's)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the store, sweep and server log here (a store already there is reused)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1300)
    args = parser.parse_args(argv)

    if not (args.project / "data" / "scaled" / "meta.json").is_file():
        sys.exit(f"{args.project}: no data/scaled yet; run `make repro` first")
    if browser.find_chromium() is None:
        sys.exit(browser.MISSING_CHROMIUM)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="dlnet-ui-") as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        store = work / "mlflow.db"
        if store.exists():  # a --workdir kept from an earlier call: photograph its sweep again
            print(f"reusing the sweep in {store}", flush=True)
        else:
            run_sweep(args.project, store, work / "sweep", args.epochs)

        with browser.MlflowServer(f"sqlite:///{store.resolve()}", log_path=work / "mlflow-server.log", cwd=work) as server:
            experiment_id = server.api("experiments/get-by-name", experiment_name="dlnet")["experiment"]["experiment_id"]
            (parent,) = server.search_runs(experiment_id, "tags.`dlnet.sweep` = 'parent'")
            parent_id = parent["info"]["run_id"]
            children = server.search_runs(experiment_id, f"tags.`mlflow.parentRunId` = '{parent_id}'")
            view_id = browser.sweep_view_id(parent_id)  # the view the sweep saved on the experiment
            print(f"{len(children)} runs under {parent['info']['run_name']!r}; UI at {server.url}", flush=True)

            # Tall enough for the whole table: one row per run under the parent.
            runs_height = max(args.height, 330 + 33 * (len(children) + 1))
            with browser.DevToolsPage(window=(args.width, runs_height)) as page:
                prepare_browser(page, server.url, experiment_id, parent_id)
                runs = shoot_runs(page, server.url, experiment_id, parent, children, args.out / "mlflow-runs.png")
            with browser.DevToolsPage(window=(args.width, args.height)) as page:
                prepare_browser(page, server.url, experiment_id, parent_id)
                compare = shoot_compare(page, server.url, experiment_id, view_id, children,
                                        args.out / "mlflow-compare.png")
    for path in (runs, compare):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
