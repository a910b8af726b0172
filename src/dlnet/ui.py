"""`make ui`: the MLflow UI on the project's store, and the addresses to open in it.

    python -m dlnet.ui [--store URI] [--port 5000] [--experiment dlnet]

Saves the experiment's runs page as a view (every training run, with the swept params and the
results as columns) and prints its address, and the latest sweep's views (its runs, its charts),
all in the model-training view (MLflow 3's UI opens the GenAI view otherwise). Then serves the
store with `mlflow ui` on 127.0.0.1, quietly (warnings and errors only), until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from dlnet import ui_views
from dlnet.lineage import project_root
from dlnet.mlflow_server import stop_group

HOST = "127.0.0.1"
# uvicorn (mlflow ui's server) without its access log: one line per request floods the console.
QUIET = "--log-level warning --no-access-log --timeout-graceful-shutdown 5"


def addresses(uri: str, experiment: str, base: str) -> list[str]:
    """What to open: the runs page, and the latest sweep's views when there is one."""
    from dlnet import tracking
    from dlnet.sweep import save_runs_view, sweep_addresses

    experiment_id = tracking.ensure_experiment(uri, experiment)
    save_runs_view(uri, experiment_id)
    lines = [f"MLflow UI: {ui_views.view_url(base, experiment_id, ui_views.RUNS_VIEW_ID)}  (Ctrl-C to stop)"]
    parent = tracking.latest_sweep(uri, experiment_id)
    if parent is not None:
        run_id, name = parent
        lines.append(f"Latest sweep, {name}:")
        lines.extend(sweep_addresses(base, experiment_id, run_id, tracking.best_child(uri, experiment_id, run_id)))
    return lines


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run the UI until it ends, Ctrl-C or SIGTERM; then stop it and exit cleanly.

    The server runs in a session of its own, so the terminal's Ctrl-C reaches only this process
    (uvicorn re-raises a SIGINT it caught after shutting down, which ends in a traceback); this
    process therefore stops it on every way out, so no server outlives `make ui`.
    """
    from dlnet import exits

    exits.stop_cleanly_on_signals()
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        print("\nMLflow UI stopped.", flush=True)
        return 0
    finally:
        stop_group(process, grace=20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The MLflow UI on the project's store.")
    parser.add_argument(
        "--store", default=None, help="tracking URI (default: MLFLOW_TRACKING_URI, else mlflow.db at the project root)"
    )
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--experiment", default="dlnet")
    args = parser.parse_args(argv)

    from dlnet import tracking

    uri = tracking.store_uri(project_root(), args.store)
    if uri.startswith(("http://", "https://")):
        # A tracking server (`make server`, or any given by URI) serves the UI itself.
        try:
            tracking.check_reachable(uri)
        except tracking.TrackingUnreachableError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        for line in addresses(uri, args.experiment, tracking.redact(uri).rstrip("/")):
            print(line.replace("  (Ctrl-C to stop)", "  (served by the tracking server)"), flush=True)
        return 0
    for line in addresses(uri, args.experiment, f"http://{HOST}:{args.port}"):
        print(line, flush=True)
    mlflow = shutil.which("mlflow") or os.path.join(os.path.dirname(sys.executable), "mlflow")
    # The job runner serves GenAI judges only, and makes the UI several times slower to start.
    # Deprecation warnings about MLflow's own imports (of Starlette) tell a user nothing.
    warnings = "ignore::DeprecationWarning,ignore:starlette.middleware.wsgi is deprecated"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONWARNINGS": warnings}
    command = [
        mlflow,
        "ui",
        "--backend-store-uri",
        uri,
        "--registry-store-uri",
        uri,
        "--host",
        HOST,
        "--port",
        str(args.port),
        "--workers",
        "1",
        "--uvicorn-opts",
        QUIET,
    ]
    return serve(command, env)


if __name__ == "__main__":
    sys.exit(main())
