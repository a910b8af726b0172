"""The DVC `train` stage: train the configuration in params.yaml and write its reports.

    python -m dlnet.train            (run by `dvc repro` / `dvc exp run`)

Writes reports/metrics.json (`dvc metrics show`) and reports/loss.csv (`dvc plots show`),
and tracks the run in MLflow like any other, tagged source=dvc. It trains on the data
variant params.yaml names (data/scaled/<data.variant>-<scale.method>); when params.yaml asks
for data no variant holds (`dvc exp run -S data.split_seed=3`), it prepares and scales that
data for this run alone, in a temporary folder, so every key can be set with `-S`. It writes
the run's packaged MLflow model to models/dlnet (a DVC output, cached by DVC, not in git):

    dlnet-predict models/dlnet INPUT.csv
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dlnet.data.atomic import write_atomically
from dlnet.data.errors import DataError
from dlnet.lineage import project_root

REPORTS = Path("reports")
DIGITS = 6  # significant digits of the committed reports
MODEL_DIR = Path("models/dlnet")


def write_reports(root: Path, result, history_rows: list[tuple[int, float, float | None]]) -> None:
    """metrics.json: the final metrics; loss.csv: epoch, train_loss, val_loss."""
    # Rounded, and no timings: a rerun on another machine (another BLAS, other last digits,
    # another speed) leaves git clean. The run's time is in MLflow.
    metrics = {
        k: round(v, DIGITS) if isinstance(v, float) else v
        for k, v in result.metrics.items()
        if isinstance(v, (int, float)) and math.isfinite(v) and not k.startswith("time/")
    }
    metrics["diverged"] = int(result.status != "FINISHED")
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    write_atomically(root / REPORTS / "metrics.json", lambda out: out.write(text), "w")
    lines = ["epoch,train_loss,val_loss"]
    lines += [f"{e},{t:.{DIGITS}g},{'' if v is None else f'{v:.{DIGITS}g}'}" for e, t, v in history_rows]
    write_atomically(root / REPORTS / "loss.csv", lambda out: out.write("\n".join(lines) + "\n"), "w")


def build_for_this_run(root: Path, params: dict, scratch: Path) -> Path:
    """Prepare and scale the data `params` asks for into `scratch` (no variant of conf/ holds it)."""
    from dlnet.data.params import data_params, scale_params
    from dlnet.data.prepare import prepare
    from dlnet.data.scale import scale_meta, scale_parts, write_scaled

    parts, prepared_meta = prepare(data_params(params), root)
    method = scale_params(params).method
    scaled, scaler = scale_parts(parts, list(prepared_meta["features"]), method)
    folder = scratch / "scaled"
    write_scaled(folder, scaled, scaler, scale_meta(prepared_meta, method, scaled))
    print(f"train: no data variant holds this data config; prepared and scaled it for this run ({folder.name})")
    return folder


def write_model(root: Path, result) -> None:
    """models/dlnet: the run's MLflow model as logged, or, for a diverged run, a note saying why not."""
    from dlnet.data.atomic import atomic_directory

    with atomic_directory(root / MODEL_DIR) as folder:
        if result.model_uri is None:
            why = f"diverged ({result.reason})" if result.status == "FAILED" else "logged no model"
            (folder / "NO_MODEL.txt").write_text(
                f"MLflow run {result.run_id} {why}: it has no model.\n", encoding="utf-8"
            )
        else:
            from dlnet import tracking_model

            tracking_model.download(result.tracking_uri, result.model_uri, folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="the params file DVC composed (default: params.yaml)")
    args = parser.parse_args(argv)
    root = project_root()
    params_path = root / args.params
    if not params_path.is_file():
        print(f"error: {params_path} does not exist; run `make params` to compose it from conf/", file=sys.stderr)
        return 2
    params = yaml.safe_load(params_path.read_text()) or {}

    from dlnet import exits
    from dlnet.config import validate
    from dlnet.job import INPUT_ERRORS, DataMismatchError, check_data, run_job
    from dlnet.tracking import TrackingError

    exits.stop_cleanly_on_signals()
    history: list[tuple[int, float, float | None]] = []
    # The run's results are saved here before they are sent to MLflow (dlnet.results).
    output_dir = root / "outputs" / time.strftime("%Y-%m-%d") / f"{time.strftime('%H-%M-%S')}-{os.getpid()}-dvc"
    try:
        config = validate(params)
        try:
            check_data(root, config)
            result = run_job(params, root=root, source="dvc", on_history=history.append, output_dir=output_dir)
        except DataMismatchError:
            with tempfile.TemporaryDirectory(prefix="dlnet-data-") as scratch:
                folder = build_for_this_run(root, params, Path(scratch))
                result = run_job(
                    params,
                    root=root,
                    source="dvc",
                    on_history=history.append,
                    data_folder=folder,
                    extra_tags={"dlnet.data.built_for_run": "true"},
                    output_dir=output_dir,
                )
    except INPUT_ERRORS + (DataError,) as error:
        print(f"error: {args.params}: {error}", file=sys.stderr)
        return exits.BAD_INPUT
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return exits.TRACKING_FAILED
    except KeyboardInterrupt as interrupt:
        print(exits.interrupt_reason(interrupt), file=sys.stderr)
        exits.ignore_stop_signals()
        return exits.interrupt_code(interrupt)
    write_reports(root, result, history)
    write_model(root, result)
    return 0  # a diverged run is a result too: metrics.json says so, MLflow holds the reason


if __name__ == "__main__":
    sys.exit(main())
