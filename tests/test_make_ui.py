"""`make ui`: the MLflow UI on a store, bound to loopback, at the address it prints; quiet, and a clean Ctrl-C."""

import os
import signal
import subprocess
import time
import urllib.request

from conftest import REPO, sqlite_uri, tool_env
from mlflow_ui import free_port, stop_group

from dlnet.tracking import ensure_experiment


def test_make_ui_serves_the_store_quietly_and_stops_cleanly_on_ctrl_c(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    ensure_experiment(uri, "dlnet")
    port = free_port()
    # A session of its own: the SIGINT below reaches make and its children as a terminal's Ctrl-C does.
    process = subprocess.Popen(
        ["make", "--no-print-directory", "ui", f"PORT={port}", f"STORE={uri}"],
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        first_line = process.stdout.readline()
        assert f"MLflow UI: http://127.0.0.1:{port}" in first_line
        assert "workflowType=machine_learning" in first_line and "viewStateShareKey=dlnet-runs" in first_line
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "no /health within 90 s"
                time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=dlnet"
        for _ in range(5):  # requests that an access log would print, one line each
            with urllib.request.urlopen(url, timeout=10) as response:
                assert b'"custom_model_development"' in response.read()
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=90)  # bounded: a loaded machine stops uvicorn slowly
    finally:
        stop_group(process)
    assert "MLflow UI stopped." in output
    assert "Traceback" not in output and "CancelledError" not in output and "KeyboardInterrupt" not in output
    assert "GET /api" not in output and "INFO" not in output, output  # no access log, no info lines
