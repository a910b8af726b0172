"""The packaged MLflow model of a run, and the registry: the tracking side of dlnet.model.

With tracking.py, the only module that imports mlflow. Every FINISHED run logs one MLflow
model named `model` (an MLflow 3 "logged model", linked to its run, so the UI's Logged
models column shows it). It loads with

    mlflow.pyfunc.load_model("runs:/<run id>/model")        (or models:/<model id>)

and predicts from raw feature rows (a pandas DataFrame with the raw data set's column
names, an optional `id` column), returning `probability` (of malignant) and `class` (0/1).

Inside: the MLflow `python_model` flavour around dlnet.model.RawModel; the artifact
`network/` holds model.json (data set, features, valid range, fitted scaler, threshold)
and weights.npz (W1, b1, W2, b2); `code/dlnet` holds the part of dlnet's source that
predicting needs (`shipped_sources`), so the model loads where dlnet is not installed. Its
requirements are stated, not inferred (inference loads the model in a subprocess: seconds
per run).

Before the model's own checks run, MLflow enforces the signature: it refuses a missing column
itself (naming it) and drops a column the signature does not know, with a warning, so that
`predict` never sees it. `dlnet-predict` checks the file's columns itself and refuses an
unexpected one.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

from dlnet.model import ID_COLUMN, RawModel

MODEL_NAME = "model"  # runs:/<run id>/model
MLMODEL_FILE = "MLmodel"
NETWORK_ARTIFACT = "network"
CHAMPION_ALIAS = "champion"
PACKAGE_DIR = Path(__file__).resolve().parent
# The part of dlnet's source every model carries (code/dlnet), so that it loads where dlnet is
# not installed: what `import dlnet.tracking_model` imports (a test keeps this complete), with
# the whole data package (the scaler's module imports its neighbours).
SHIPPED_MODULES = ("__init__.py", "model.py", "network.py", "tracking_model.py")
SHIPPED_PACKAGES = ("data",)


def shipped_sources() -> list[str]:
    """The files of dlnet every model carries, relative to the package folder."""
    files = list(SHIPPED_MODULES)
    for package in SHIPPED_PACKAGES:
        files += sorted(str(path.relative_to(PACKAGE_DIR)) for path in (PACKAGE_DIR / package).glob("*.py"))
    return files


def registered_name(dataset: str) -> str:
    """The registry name of a data set's models: `dlnet-original`, `dlnet-wdbc`."""
    return f"dlnet-{dataset}"


class DlnetPyfunc(PythonModel):
    """MLflow's view of a RawModel: load it from the `network` artifact, predict raw rows."""

    def load_context(self, context) -> None:
        self.model = RawModel.load(context.artifacts[NETWORK_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.model.predict(model_input)


def requirements() -> list[str]:
    """What loading the model needs, pinned to what trained it (stated, never inferred)."""
    import cloudpickle
    import yaml

    return [
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"pyyaml=={yaml.__version__}",
    ]


def signature(model: RawModel) -> ModelSignature:
    """Inputs: each raw feature by name and an optional `id`; outputs: id, probability and class.

    The features are typed Any on purpose. MLflow enforces a signature before the model sees the
    rows, and its type checks would refuse a '?' or a NaN without saying in which row, and refuse
    whole numbers in a double column (int64 -> float64 is not "safe" to it) although the original
    file holds only whole numbers. The model's own checks (dlnet.model) then name the row and the
    column, and say what the data set's valid range is.
    """
    inputs: list[ColSpec | TensorSpec] = [ColSpec(AnyType(), name) for name in model.features]
    inputs.append(ColSpec("long", ID_COLUMN, required=False))
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("long", ID_COLUMN, required=False),
        ColSpec("double", "probability"),
        ColSpec("long", "class"),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


@contextmanager
def _quietly() -> Iterator[None]:
    """Save a model without copying the project's uv.lock into it (MLflow does when it finds one
    in the working directory), and without MLflow's INFO lines and warnings about it."""
    import logging

    settings = {"MLFLOW_UV_AUTO_DETECT": "false", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    saved = {key: os.environ.get(key) for key in settings}
    logger = logging.getLogger("mlflow")
    level = logger.level
    os.environ.update(settings)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at `uri` meanwhile: the registry resolves a
    version's source (models:/<model id>) through it, not through the client's URI."""
    from mlflow.tracking._tracking_service import utils

    previous_uri, previous_env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils._tracking_uri = previous_uri
        if previous_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


def log_model(
    uri: str,
    run_id: str,
    model: RawModel,
    example: pd.DataFrame,
    *,
    step: int = 0,
    metrics: dict[str, float] | None = None,
    experiment_id: str | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """Log `model` as the run's MLflow model `model` (at `step`); return its URI, models:/<model id>.

    What `mlflow.pyfunc.log_model(name="model")` does inside a run, from MLflow's public parts:
    a logged model in the run's experiment with the run's params, the pyfunc model saved and
    uploaded as its artifacts, the model linked to the run as its output (so `runs:/<run id>/model`
    finds it) and the run's final `metrics` logged on the run, linked to the model. Left out:
    log_model's check that loads the model back to predict the input example (~120 ms, more than
    the whole goal for logging a model); the tests load every model in a fresh process instead.
    `experiment_id` and `params` (the run's, as logged) spare reading the run back when given.
    """
    client = mlflow.MlflowClient(tracking_uri=uri)
    if experiment_id is None or params is None:
        run = client.get_run(run_id)
        experiment_id, params = run.info.experiment_id, dict(run.data.params)
    logged = client.create_logged_model(
        experiment_id=experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        params=params,
        tags={"dlnet.dataset": model.dataset},
        model_type="dlnet-two-layer-net",
    )
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=step)])
    try:
        with tempfile.TemporaryDirectory(prefix="dlnet-model-") as scratch:
            folder = Path(scratch) / MODEL_NAME
            described = Model(
                artifact_path=logged.artifact_location,
                run_id=run_id,
                model_id=logged.model_id,
                model_uuid=logged.model_id,
            )
            write_model(folder, model, example, mlflow_model=described)
            client.log_model_artifacts(logged.model_id, str(folder))
        if metrics:
            stamp = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[
                    Metric(key, float(value), stamp, step, model_id=logged.model_id) for key, value in metrics.items()
                ],
            )
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return f"models:/{logged.model_id}"


def save_model(path: Path, model: RawModel, example: pd.DataFrame, *, mlflow_model: Model | None = None) -> Path:
    """Write `model` as an MLflow pyfunc model into the new folder `path`."""
    import shutil

    with tempfile.TemporaryDirectory(prefix="dlnet-network-") as scratch, _quietly():
        network = model.save(Path(scratch) / NETWORK_ARTIFACT)
        code = Path(scratch) / "dlnet"
        for name in shipped_sources():
            (code / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PACKAGE_DIR / name, code / name)
        mlflow.pyfunc.save_model(
            str(path),
            python_model=DlnetPyfunc(),
            artifacts={NETWORK_ARTIFACT: str(network)},
            code_paths=[str(code)],
            signature=signature(model),
            input_example=example,
            pip_requirements=requirements(),
            mlflow_model=mlflow_model,
        )
    return path


# The models this process saved with mlflow.pyfunc.save_model, one per input example (data set).
_templates: dict[str, tuple[Path, Model]] = {}
NETWORK_PATH = Path("artifacts") / NETWORK_ARTIFACT  # where save_model puts the network in the folder


def write_model(path: Path, model: RawModel, example: pd.DataFrame, *, mlflow_model: Model) -> Path:
    """What save_model writes, for a fraction of its cost: after the first model of a data set.

    Two models of the same data set differ only in their network (model.json, weights.npz) and
    in what MLmodel says of the run (run, model id, time, size); the code, the environment, the
    signature and the input example are the same. So the first is saved by mlflow.pyfunc.save_model
    (~0.1 s: requirement checks, the example, the code) and kept for the process; each next one is
    that folder with its own network and MLmodel. tests/test_model.py compares the two file by file.
    """
    import atexit
    import shutil

    key = f"{model.features}|{example.to_json(orient='split')}"
    if key not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="dlnet-model-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        save_model(folder / MODEL_NAME, model, example)
        _templates[key] = (folder / MODEL_NAME, Model.load(str(folder / MODEL_NAME / MLMODEL_FILE)))
    template, described = _templates[key]
    shared = {MLMODEL_FILE, NETWORK_ARTIFACT}
    shutil.copytree(template, path, ignore=lambda _, names: [name for name in names if name in shared])
    network = model.save(path / NETWORK_PATH)
    mlmodel = Model.from_dict(described.to_dict())
    mlmodel.artifact_path, mlmodel.run_id = mlflow_model.artifact_path, mlflow_model.run_id
    mlmodel.model_id, mlmodel.model_uuid = mlflow_model.model_id, mlflow_model.model_uuid
    mlmodel.utc_time_created = mlflow_model.utc_time_created
    mlmodel.flavors["python_function"]["artifacts"][NETWORK_ARTIFACT]["uri"] = str(network)
    if described.model_size_bytes is not None:  # what save_model counts: the folder before its code and environment
        mlmodel.model_size_bytes = described.model_size_bytes - _size(template / NETWORK_PATH) + _size(network)
    mlmodel.save(str(path / MLMODEL_FILE))
    return path


def _size(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


def load(uri: str, model_uri: str):
    """The pyfunc model at `model_uri` (resolved in the store `uri`); LookupError saying why not."""
    with _tracking_uri(uri), _quietly():
        try:
            return mlflow.pyfunc.load_model(model_uri)
        except (MlflowException, OSError) as error:
            raise LookupError(f"cannot load the model {model_uri} from the store {uri}: {error}") from None


def download(uri: str, model_uri: str, folder: Path) -> Path:
    """Copy the model at `model_uri` (in the store `uri`) into the existing, empty `folder`."""
    with _tracking_uri(uri), _quietly():
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(folder), tracking_uri=uri)
    return folder


def raw_model(pyfunc) -> RawModel:
    """The RawModel inside a loaded dlnet pyfunc model; LookupError for another kind of model."""
    inner = pyfunc.unwrap_python_model() if hasattr(pyfunc, "unwrap_python_model") else None
    model = getattr(inner, "model", None)
    if not isinstance(model, RawModel):
        raise LookupError("not a dlnet model: it holds no dlnet network")
    return model


def settle_models(uri: str, experiment_id: str, run_id: str) -> bool:
    """The run's models after the process logging one died: one left PENDING is marked FAILED.
    True if one is READY (its final metrics were logged with it)."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    ready = False
    for logged in client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'"):
        if logged.status == LoggedModelStatus.READY:
            ready = True
        elif logged.status == LoggedModelStatus.PENDING:
            client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
    return ready


def run_model_id(uri: str, run_id: str) -> str | None:
    """The id of the MLflow model the run logged, or None (a diverged run logs none)."""
    found = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    outputs = found.outputs.model_outputs if found.outputs else []
    return outputs[-1].model_id if outputs else None


def register(uri: str, run_id: str, name: str, alias: str = CHAMPION_ALIAS) -> str:
    """Register the run's model as a new version of `name` and point `alias` at it; return the version."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    model_id = run_model_id(uri, run_id)
    if model_id is None:
        raise MlflowException(f"run {run_id} logged no model; only a FINISHED run has one")
    try:
        client.create_registered_model(
            name, description="dlnet's two-layer network; raw rows in, malignant probability out"
        )
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    with _tracking_uri(uri):
        version = client.create_model_version(name, source=f"models:/{model_id}", run_id=run_id, model_id=model_id)
    client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)
