"""`make ui`: the MLflow UI on the project's store, and the addresses to open in it.

    python -m dlnet.ui [--store URI] [--port 5000] [--experiment dlnet]

Prints the experiment's runs page in the model-training view (MLflow 3's UI opens the GenAI
view otherwise) and the latest sweep's saved comparison view, then becomes `mlflow ui`,
bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from dlnet import ui_views
from dlnet.lineage import project_root

HOST = "127.0.0.1"


def addresses(uri: str, experiment: str, base: str) -> list[str]:
    """What to open: the runs page, and the latest sweep's view when there is one."""
    from dlnet import tracking

    experiment_id = tracking.ensure_experiment(uri, experiment)
    lines = [f"MLflow UI: {ui_views.runs_url(base, experiment_id)}  (Ctrl-C to stop)"]
    parent = tracking.latest_sweep(uri, experiment_id)
    if parent is not None:
        run_id, name = parent
        view = ui_views.view_url(base, experiment_id, ui_views.sweep_view_id(run_id), charts=True)
        lines.append(f"Latest sweep, {name}: {view}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The MLflow UI on the project's store.")
    parser.add_argument("--store", default=None,
                        help="tracking URI (default: MLFLOW_TRACKING_URI, else mlflow.db at the project root)")
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
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [mlflow, "ui", "--backend-store-uri", uri, "--host", HOST, "--port", str(args.port), "--workers", "1"]
    os.execve(mlflow, command, env)
    return 0  # not reached: this process is now the UI


if __name__ == "__main__":
    sys.exit(main())
