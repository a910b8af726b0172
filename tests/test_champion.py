"""A sweep's champion: registered by validation, predicted with by `dlnet-predict`, served by
`mlflow models serve` — all for real, in subprocesses, on a fresh store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from conftest import BIN, run_tool, sqlite_uri, tool_env
from mlflow.tracking import MlflowClient
from mlflow_ui import free_port

from dlnet.data.original import FEATURES

CHAMPION = "models:/dlnet-original@champion"
# The first rows of the raw UCI file, without their class: id, then the nine scores.
RAW_ROWS = """1000025,5,1,1,1,2,1,3,1,1
1002945,5,4,4,5,7,10,3,2,1
1015425,3,1,1,1,2,2,3,1,1
1016277,6,8,8,1,3,4,3,7,1
"""


@pytest.fixture(scope="module")
def swept(built_project, tmp_path_factory):
    """A 4-run sweep on a fresh store: (project, uri, stdout, client, children)."""
    folder = tmp_path_factory.mktemp("champion")
    uri = sqlite_uri(folder / "mlflow.db")
    done = run_tool(
        [
            str(BIN / "dlnet-train"),
            "-m",
            "optim.lr=0.02,0.3",
            "batch=full,mini",
            "train.epochs=15",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={folder / 'sweep'}",
        ],
        built_project,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dlnet").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return built_project, uri, done.stdout, client, children


def test_the_best_run_by_validation_is_registered_as_champion(swept):
    _, uri, stdout, client, children = swept
    assert len(children) == 4
    best = min(children, key=lambda r: (-r.data.metrics["val/accuracy"], r.data.metrics["val/loss"]))
    version = client.get_model_version_by_alias("dlnet-original", "champion")
    assert version.run_id == best.info.run_id
    (output,) = best.outputs.model_outputs
    assert version.source == f"models:/{output.model_id}"
    assert f"Champion (original): {best.info.run_name} (run {best.info.run_id})" in stdout
    assert "Registered as dlnet-original version 1, alias champion" in stdout
    # validation for every run, the test accuracy for the champion alone
    header = next(line for line in stdout.splitlines() if line.startswith("| run |"))
    assert "val/accuracy" in header and "val/loss" in header and "test" not in header
    assert stdout.count("test/accuracy") == 1
    assert f"its test/accuracy: {best.data.metrics['test/accuracy']:.3f}" in stdout


def test_registering_can_be_turned_off(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            str(BIN / "dlnet-train"),
            "-m",
            "optim.lr=0.3",
            "train.epochs=3",
            "tracking.register=false",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        built_project,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Not registered (tracking.register=false)." in done.stdout
    assert MlflowClient(tracking_uri=uri).search_registered_models() == []


def expected_probabilities(uri: str, rows: pd.DataFrame) -> np.ndarray:
    from dlnet import tracking_model

    return tracking_model.load(uri, CHAMPION).predict(rows)["probability"].to_numpy()


def test_dlnet_predict_with_the_champion(swept, tmp_path):
    project, uri, _, _, _ = swept
    with_id = tmp_path / "rows.csv"
    with_id.write_text(RAW_ROWS)
    out = tmp_path / "out.csv"
    done = run_tool(
        [str(BIN / "dlnet-predict"), CHAMPION, str(with_id), "-o", str(out)], project, MLFLOW_TRACKING_URI=uri
    )
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(out)
    assert list(predicted.columns) == ["id", "probability", "class"]
    assert predicted["id"].tolist() == [1000025, 1002945, 1015425, 1016277]
    raw = pd.DataFrame([line.split(",")[1:] for line in RAW_ROWS.split()], columns=FEATURES).astype(int)
    np.testing.assert_allclose(predicted["probability"], expected_probabilities(uri, raw), rtol=0, atol=1e-12)
    assert predicted["class"].tolist() == [int(p > 0.5) for p in predicted["probability"]]

    # without the id column, to the standard output, store given as an option
    no_id = tmp_path / "no_id.csv"
    no_id.write_text("".join(line.split(",", 1)[1] + "\n" for line in RAW_ROWS.split()))
    done = run_tool([str(BIN / "dlnet-predict"), CHAMPION, str(no_id), "--tracking-uri", uri], project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "id,probability,class" and [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            RAW_ROWS.replace("1015425,3,1,1,1,2,2", "1015425,3,1,1,1,2,?"),
            "line 3, column 'bare_nuclei': '?' (a missing value) is not a number",
        ),
        (
            RAW_ROWS.replace("1016277,6,8", "1016277,16,8"),
            "line 4, column 'clump_thickness': 16 is outside the valid range; expected an integer from 1 to 10",
        ),
        (RAW_ROWS.replace("1002945,5,4", "1002945,5,4,4"), "line 2: 11 comma-separated values; expected 10"),
        ("id," + ",".join(FEATURES) + ",class\n1,5,1,1,1,2,1,3,1,1,2\n", "unexpected column 'class'"),
        ("id," + ",".join(FEATURES[:-1]) + "\n1,5,1,1,1,2,1,3,1\n", "column 'mitoses' missing"),
        ("5,1,1\n", "line 1: 3 comma-separated values; expected 10"),
        (RAW_ROWS.replace("1016277,6,8", "1016277,nan,8"), "line 4, column 'clump_thickness': 'nan' is not a number"),
        ("", "no rows"),
    ],
)
def test_dlnet_predict_refuses_bad_rows(swept, tmp_path, capsys, content, message):
    """In this process (`main` as the console script calls it): a subprocess each costs ~10 s."""
    from dlnet.predict import main

    _, uri, _, _, _ = swept
    rows = tmp_path / "rows.csv"
    rows.write_text(content)
    out = tmp_path / "out.csv"
    assert main([CHAMPION, str(rows), "-o", str(out), "--tracking-uri", uri]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"error: {rows}") and message in stderr, stderr
    assert not out.exists()


def test_dlnet_predict_exits_2_on_a_bad_row_or_an_unknown_model(swept, tmp_path):
    project, uri, _, _, _ = swept
    rows = tmp_path / "rows.csv"
    rows.write_text(RAW_ROWS.replace("1002945,5,4,4,5,7,10", "1002945,5,4,4,5,7,"))
    done = run_tool([str(BIN / "dlnet-predict"), CHAMPION, str(rows)], project, MLFLOW_TRACKING_URI=uri)
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: {rows}, line 2, column 'bare_nuclei': empty (a missing value)" in done.stderr
    done = run_tool(
        [str(BIN / "dlnet-predict"), "models:/dlnet-wdbc@champion", str(rows)], project, MLFLOW_TRACKING_URI=uri
    )
    assert done.returncode == 2 and "cannot load the model models:/dlnet-wdbc@champion" in done.stderr


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.e2e
def test_mlflow_models_serve_answers_raw_rows(swept, tmp_path):
    project, uri, _, _, _ = swept
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            CHAMPION,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=tmp_path,
        env=tool_env(MLFLOW_TRACKING_URI=uri),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(1)
        rows = [[int(v) for v in line.split(",")] for line in RAW_ROWS.split()]
        status, answer = post(
            f"http://127.0.0.1:{port}/invocations", {"dataframe_split": {"columns": ["id", *FEATURES], "data": rows}}
        )
        assert status == 200, answer
        predictions = answer["predictions"]
        assert [p["id"] for p in predictions] == [row[0] for row in rows]
        raw = pd.DataFrame([row[1:] for row in rows], columns=FEATURES)
        np.testing.assert_allclose(
            [p["probability"] for p in predictions], expected_probabilities(uri, raw), rtol=0, atol=1e-12
        )
        assert all(p["class"] == int(p["probability"] > 0.5) for p in predictions)

        bad = [rows[0], [rows[1][0], 5, 4, 4, 5, 7, "?", 3, 2, 1]]
        status, answer = post(
            f"http://127.0.0.1:{port}/invocations", {"dataframe_split": {"columns": ["id", *FEATURES], "data": bad}}
        )
        assert status >= 400 and "row 1, column 'bare_nuclei'" in json.dumps(answer), answer
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
