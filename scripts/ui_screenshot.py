"""Make the README's screenshots of the MLflow UI from a real sweep.

    python scripts/ui_screenshot.py [--out docs] [--epochs N] [--workdir DIR]

Runs the project's sweep (`dlnet-train +sweep=grid`: 3 learning rates × 3 widths × 3 batch
strategies = 27 runs) into a new MLflow store in a temporary folder, serves it with
`python -m dlnet.ui` (what `make ui` runs) on a free 127.0.0.1 port, and opens the addresses it
printed in Debian's Chromium (Playwright, a fresh browser each):

  mlflow-runs.png     `make ui`'s first address: the runs page, every training run with the
                      swept params and the results as columns, best validation accuracy first
  mlflow-compare.png  the sweep's charts address: the train and validation losses per epoch
                      overlaid, the parallel coordinates, validation accuracy against lr and width

Nothing is arranged by hand: the only action is the one a new user takes once, closing MLflow's
assistant panel (it opens by itself on a first visit). Needs `make repro` first, and Chromium.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the UI test tooling: server and browser helpers

from mlflow_ui import MISSING_CHROMIUM, DlnetUi, chromium, close_assistant, find_chromium, open_page  # noqa: E402


def run_sweep(project: Path, store: Path, sweep_dir: Path, epochs: int | None) -> str:
    """Run the sweep; return what it printed."""
    train = Path(sys.executable).parent / "dlnet-train"
    args = [str(train), "+sweep=grid", f"tracking.uri=sqlite:///{store.resolve()}", f"hydra.sweep.dir={sweep_dir}"]
    if epochs:
        args.append(f"train.epochs={epochs}")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    print("$ dlnet-train", " ".join(args[1:]), flush=True)
    started = time.monotonic()
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the sweep failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"sweep done in {time.monotonic() - started:.0f} s", flush=True)
    return done.stdout


def shoot(browser, url: str, wait_for: list[str], out: Path, viewport: tuple[int, int], settle_ms: int = 2000) -> Path:
    with open_page(browser, url, viewport=viewport) as page:
        try:
            for text in wait_for:
                page.get_by_text(text, exact=True).first.wait_for(state="visible")
            close_assistant(page)
            page.wait_for_timeout(settle_ms)  # let the charts finish drawing
        except Exception as error:
            failed = out.with_suffix(".failed.png")
            page.screenshot(path=str(failed))
            sys.exit(f"{error}; the page as it was: {failed}")
        page.screenshot(path=str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default: docs/)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the project to train in (default: this one)")
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs for every run (default: the config's)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the store, sweep and logs here")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1300)
    args = parser.parse_args(argv)

    if not any((args.project / "data" / "scaled").glob("*/meta.json")):
        sys.exit(f"{args.project}: no data/scaled yet; run `make repro` first")
    if find_chromium() is None:
        sys.exit(MISSING_CHROMIUM)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="dlnet-ui-") as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        store = work / "mlflow.db"
        if store.exists():
            sys.exit(f"{store} exists: the screenshots come from one new sweep; give another --workdir")
        run_sweep(args.project, store, work / "sweep", args.epochs)

        with DlnetUi(f"sqlite:///{store.resolve()}", log_path=work / "ui.log", cwd=work) as ui:
            runs_page, _sweep_runs, sweep_charts, _best_run = ui.printed()
            experiment_id = ui.api("experiments/get-by-name", experiment_name="dlnet")["experiment"]["experiment_id"]
            (parent,) = ui.search_runs(experiment_id, "tags.`dlnet.sweep` = 'parent'")
            children = ui.search_runs(experiment_id, f"tags.`mlflow.parentRunId` = '{parent['info']['run_id']}'")
            names = [c["info"]["run_name"] for c in children]
            print(f"{len(children)} runs under {parent['info']['run_name']!r}; UI at {ui.url}", flush=True)
            # Tall enough for the whole table: one row per run.
            runs_height = max(args.height, 330 + 33 * (len(children) + 1))
            with chromium() as browser:
                runs = shoot(browser, runs_page, names, args.out / "mlflow-runs.png", (args.width, runs_height))
                compare = shoot(
                    browser,
                    sweep_charts,
                    ["Parallel Coordinates", "val/loss", "train/loss"],
                    args.out / "mlflow-compare.png",
                    (args.width, args.height),
                    settle_ms=4000,
                )
    for path in (runs, compare):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
