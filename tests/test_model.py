"""Every finished run's packaged model: loaded in a fresh process it predicts from raw rows exactly
as the network does; bad rows are refused naming the row and the column; diverged runs have none."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import run_tool, sqlite_uri
from mlflow.tracking import MlflowClient

from dlnet.config import validate
from dlnet.data.original import FEATURES
from dlnet.job import data_dir, run_job
from dlnet.model import InputError
from dlnet.network import TwoLayerNet
from dlnet.params import compose_defaults

EPOCHS = 40


@pytest.fixture(scope="module")
def trained(built_project, tmp_path_factory):
    """One tracked run (default config, few epochs) on a fresh store: (project, uri, result)."""
    uri = sqlite_uri(tmp_path_factory.mktemp("model-store") / "mlflow.db")
    cfg = compose_defaults(built_project / "conf", [f"train.epochs={EPOCHS}", f"tracking.uri={uri}"])
    result = run_job(cfg, root=built_project, source="test", progress=False)
    assert result.status == "FINISHED" and result.model_uri.startswith("models:/m-")
    return built_project, uri, result, validate(cfg)


def raw_and_scaled(project, config, part="val"):
    """A part's raw feature rows (prepared data: the raw values) and its scaled features (features, m)."""
    scaled_dir = project / data_dir(config)
    scaled = pd.read_csv(scaled_dir / f"{part}.csv")
    meta = json.loads((scaled_dir / "meta.json").read_text())
    prepared = pd.read_csv(project / "data" / "prepared" / config.data.variant / f"{part}.csv")
    assert list(prepared["id"]) == list(scaled["id"])
    return prepared[["id", *meta["features"]]], scaled[meta["features"]].to_numpy().T


def test_the_model_loaded_in_a_fresh_process_equals_the_network(trained, tmp_path):
    project, uri, result, config = trained
    client = MlflowClient(tracking_uri=uri)
    # the network, from the run's own weights.npz (TwoLayerNet takes them back as they are)
    weights = client.download_artifacts(result.run_id, "weights.npz", str(tmp_path))
    with np.load(weights) as saved:
        assert sorted(saved.files) == ["W1", "W2", "b1", "b2"]
        net = TwoLayerNet(len(FEATURES), config.model.hidden_units, params=dict(saved))
    raw, scaled = raw_and_scaled(project, config)
    expected = net.predict_proba(scaled)[0]

    rows = tmp_path / "rows.csv"
    raw.to_csv(rows, index=False)
    out = tmp_path / "out.json"
    script = (
        "import sys, json, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model('runs:/{result.run_id}/model')\n"
        f"predicted = model.predict(pd.read_csv({str(rows)!r}))\n"
        "import dlnet.model\n"
        f"json.dump({{'p': predicted['probability'].tolist(), 'c': predicted['class'].tolist(),"
        f" 'id': predicted['id'].tolist(), 'code': dlnet.model.__file__}}, open({str(out)!r}, 'w'))\n"
    )
    run_tool([sys.executable, "-c", script], tmp_path, check=True, MLFLOW_TRACKING_URI=uri)
    got = json.loads(out.read_text())
    np.testing.assert_allclose(got["p"], expected, rtol=0, atol=1e-12)
    assert got["c"] == [int(p > config.model.threshold) for p in expected]
    assert got["id"] == raw["id"].tolist()
    # the fresh process ran the source the model carries, not the checkout's
    assert "/code/dlnet/model.py" in got["code"]


def test_the_logged_model_is_linked_to_its_run_and_self_describing(trained, tmp_path, monkeypatch):
    _, uri, result, config = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MLflow resolves runs:/<id>/model through it
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    (output,) = run.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.name == "model" and logged.source_run_id == result.run_id
    assert str(logged.status).endswith("READY") and logged.params["optim.lr"] == "0.07"
    assert {m.key for m in logged.metrics} >= {"val/accuracy", "test/accuracy"}
    import mlflow

    folder = mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model", dst_path=str(tmp_path))
    from mlflow.models import Model

    described = Model.load(folder)
    assert described.signature.inputs.input_names() == [*FEATURES, "id"]
    assert described.signature.outputs.input_names() == ["id", "probability", "class"]
    example = json.loads((tmp_path / "model" / "input_example.json").read_text())
    assert example["columns"] == FEATURES and len(example["data"]) == 3
    assert all(isinstance(v, int) and 1 <= v <= 10 for row in example["data"] for v in row)
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} == {"mlflow", "numpy", "pandas", "cloudpickle", "pyyaml"}
    assert not (tmp_path / "model" / "uv.lock").exists()
    spec = json.loads((tmp_path / "model" / "artifacts" / "network" / "model.json").read_text())
    assert spec["dataset"] == "original" and spec["features"] == FEATURES and spec["threshold"] == 0.5
    assert spec["valid_range"] == {"low": 1.0, "high": 10.0, "integer": True}
    assert spec["scaler"]["method"] == "standard"


def test_the_model_carries_every_module_it_imports(tmp_path):
    from dlnet.tracking_model import shipped_sources

    script = (
        "import sys, dlnet.tracking_model\n"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'dlnet'))"
    )
    done = run_tool([sys.executable, "-c", script], tmp_path, check=True)
    imported = {path.split("/dlnet/", 1)[1] for path in done.stdout.split()}
    assert imported <= set(shipped_sources())


def test_a_model_written_from_the_template_is_the_model_save_model_writes(built_project, tmp_path):
    """write_model (the first model of a data set saved by MLflow, the next ones from its folder) writes
    what mlflow.pyfunc.save_model writes, file by file; only the time and the scratch path differ."""
    import yaml
    from mlflow.models import Model

    from dlnet import tracking_model
    from dlnet.data.dataset import load_variant
    from dlnet.data.scale import Scaler
    from dlnet.model import RawModel, dataset_range, raw_rows

    folder = built_project / "data" / "scaled" / "original-standard"
    data = load_variant(folder, shown=folder, rebuild="rebuild it")
    scaler = Scaler.from_dict(json.loads(data.scaler_bytes))
    X = data.splits["train"].X

    def model(hidden: int, run_id: str) -> RawModel:
        net = TwoLayerNet(X.shape[0], hidden, rng=hidden)
        return RawModel(
            dataset="original",
            features=list(scaler.features),
            valid_range=dataset_range("original"),
            scaler=scaler,
            params=net.params,
            threshold=0.5,
            dtype="float64",
            run_id=run_id,
        )

    first = model(4, "run-a")
    example = raw_rows(first, X[:, :3])
    tracking_model.write_model(tmp_path / "first", first, example, mlflow_model=Model(run_id="run-a"))
    for hidden in (15, 64):  # other networks than the template's, larger and smaller files
        second, described = model(hidden, f"run-{hidden}"), dict(artifact_path="a/b", model_id="m-1", model_uuid="m-1")
        written = tracking_model.write_model(
            tmp_path / f"w{hidden}", second, example, mlflow_model=Model(run_id=f"run-{hidden}", **described)
        )
        saved = tracking_model.save_model(
            tmp_path / f"s{hidden}", second, example, mlflow_model=Model(run_id=f"run-{hidden}", **described)
        )
        files = sorted(str(p.relative_to(saved)) for p in saved.rglob("*") if p.is_file())
        assert files == sorted(str(p.relative_to(written)) for p in written.rglob("*") if p.is_file())
        for name in files:
            if name != "MLmodel":
                assert (written / name).read_bytes() == (saved / name).read_bytes(), name
        ours, theirs = (yaml.safe_load((model_folder / "MLmodel").read_text()) for model_folder in (written, saved))
        for mlmodel in (ours, theirs):
            del mlmodel["utc_time_created"], mlmodel["flavors"]["python_function"]["artifacts"]["network"]["uri"]
        assert ours == theirs


@pytest.fixture(scope="module")
def loaded(trained):
    _, uri, result, _ = trained
    from dlnet import tracking_model

    return tracking_model.load(uri, result.model_uri)


GOOD = {name: 3 for name in FEATURES}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"bare_nuclei": "?"},
            "row 1, column 'bare_nuclei': '?' (a missing value) is not a number; expected an integer from 1 to 10",
        ),
        ({"mitoses": "abc"}, "row 1, column 'mitoses': 'abc' is not a number"),
        ({"clump_thickness": math.nan}, "row 1, column 'clump_thickness': NaN (a missing value)"),
        ({"clump_thickness": None}, "row 1, column 'clump_thickness'"),
        (
            {"marginal_adhesion": 11},
            "row 1, column 'marginal_adhesion': 11 is outside the valid range; expected an integer from 1 to 10",
        ),
        ({"marginal_adhesion": 0}, "row 1, column 'marginal_adhesion': 0 is outside the valid range"),
        ({"normal_nucleoli": 2.5}, "row 1, column 'normal_nucleoli': 2.5 is not a whole number"),
        ({"normal_nucleoli": math.inf}, "row 1, column 'normal_nucleoli': inf is outside the valid range"),
        ({"normal_nucleoli": True}, "row 1, column 'normal_nucleoli': True is not a number"),
    ],
)
def test_bad_values_are_refused_naming_row_and_column(loaded, change, message):
    rows = pd.DataFrame([GOOD, {**GOOD, **change}, GOOD])
    with pytest.raises(InputError) as raised:
        loaded.predict(rows)
    assert message in str(raised.value)


def test_bad_columns_are_refused(loaded, trained):
    missing = pd.DataFrame([GOOD]).drop(columns=["bare_nuclei"])
    with pytest.raises(Exception, match="bare_nuclei"):
        loaded.predict(missing)
    # MLflow's signature enforcement drops columns it does not know before the model sees them,
    # so the unexpected column is refused by the model itself (and by dlnet-predict, see
    # test_champion), not through pyfunc.
    from dlnet import tracking_model

    model = tracking_model.raw_model(loaded)
    with pytest.raises(InputError, match="unexpected column 'label'"):
        model.predict(pd.DataFrame([{**GOOD, "label": 1}]))
    with pytest.raises(InputError, match="column 'mitoses' missing"):
        model.predict(pd.DataFrame([GOOD]).drop(columns=["mitoses"]))
    with pytest.raises(InputError, match="no rows"):
        model.predict(pd.DataFrame(columns=FEATURES))
    # good rows, with and without id, whole numbers given as floats
    predicted = loaded.predict(pd.DataFrame([{**GOOD, "id": 7}, {**GOOD, "id": 8}]))
    assert list(predicted.columns) == ["id", "probability", "class"] and predicted["id"].tolist() == [7, 8]
    as_floats = loaded.predict(pd.DataFrame([{k: float(v) for k, v in GOOD.items()}]))
    assert as_floats["probability"].iloc[0] == predicted["probability"].iloc[0]


def test_a_diverged_run_logs_no_model_and_no_weights(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    cfg = compose_defaults(built_project / "conf", ["optim.lr=5000", "train.epochs=20", f"tracking.uri={uri}"])
    result = run_job(cfg, root=built_project, source="test", progress=False)
    assert result.status == "FAILED" and result.model_uri is None
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert not (run.outputs and run.outputs.model_outputs)
    assert client.search_logged_models(experiment_ids=[run.info.experiment_id]) == []
    assert "weights.npz" not in {a.path for a in client.list_artifacts(result.run_id)}
