"""The DVC `train` stage: train the configuration in params.yaml and write its reports.

    python -m dlnet.train            (run by `dvc repro` / `dvc exp run`)

Writes reports/metrics.json (`dvc metrics show`) and reports/loss.csv (`dvc plots show`),
and tracks the run in MLflow like any other, tagged source=dvc.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import yaml

from dlnet.data.atomic import write_atomically
from dlnet.lineage import project_root

REPORTS = Path("reports")


def write_reports(root: Path, result, history_rows: list[tuple[int, float, float | None]]) -> None:
    """metrics.json: the final metrics; loss.csv: epoch, train_loss, val_loss."""
    metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    metrics["diverged"] = int(result.status != "FINISHED")
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    write_atomically(root / REPORTS / "metrics.json", lambda out: out.write(text), "w")
    lines = ["epoch,train_loss,val_loss"]
    lines += [f"{e},{t!r},{'' if v is None else repr(v)}" for e, t, v in history_rows]
    write_atomically(root / REPORTS / "loss.csv", lambda out: out.write("\n".join(lines) + "\n"), "w")


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

    from dlnet.job import INPUT_ERRORS, run_job

    history: list[tuple[int, float, float | None]] = []
    try:
        result = run_job(params, root=root, source="dvc", on_history=history.append)
    except INPUT_ERRORS as error:
        print(f"error: {args.params}: {error}", file=sys.stderr)
        return 2
    write_reports(root, result, history)
    return 0  # a diverged run is a result too: metrics.json says so, MLflow holds the reason


if __name__ == "__main__":
    sys.exit(main())
