"""`make ui`: the MLflow UI on a store, bound to loopback, at the address it prints."""

import os
import signal
import subprocess
import time
import urllib.request

from conftest import REPO, sqlite_uri, tool_env
from dlnet.browser import free_port
from dlnet.tracking import ensure_experiment


def test_make_ui_serves_the_store_on_loopback(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    ensure_experiment(uri, "dlnet")
    port = free_port()
    process = subprocess.Popen(["make", "--no-print-directory", "ui", f"PORT={port}", f"STORE={uri}"], cwd=REPO,
                               env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        first_line = process.stdout.readline()
        assert f"MLflow UI: http://127.0.0.1:{port}" in first_line
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
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b'"custom_model_development"' in response.read()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
