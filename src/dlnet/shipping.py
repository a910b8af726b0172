"""A sweep's data travels with its jobs, through the tracking server every job reaches anyway.

A job on another machine (a Ray node) has no checkout: no conf/, no data/. Before any job
starts, the sweep's controller logs each scaled variant its jobs read (train/val/test CSV,
scaler.json, meta.json: a few hundred KB) as artifacts of the parent run, under
`project/<the variant's folder>/`, and tells the jobs so (DATA_RUN_ENV, in the job's config).
A job that finds no such data of its own downloads it once per machine into a temporary
folder laid out like the project, and trains on exactly what the controller checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DATA_RUN_ENV = "DLNET_SWEEP_DATA_RUN_ID"  # the run whose artifacts hold the sweep's data
ARTIFACT_ROOT = "project"
SHIPPED_FILES = ("train.csv", "val.csv", "test.csv", "scaler.json", "meta.json")


def ship(uri: str, run_id: str, root: Path, folders: list[Path]) -> list[str]:
    """Log every folder (relative to `root`) as artifacts of `run_id`; return their artifact paths."""
    from dlnet import tracking

    logger = tracking.parent_logger(uri, run_id)
    shipped = []
    for folder in sorted(set(folders)):
        artifact_dir = f"{ARTIFACT_ROOT}/{folder.as_posix()}"
        for name in SHIPPED_FILES:
            if (root / folder / name).is_file():
                logger.log_artifact(root / folder / name, artifact_dir)
        shipped.append(artifact_dir)
    return shipped


def fetch(uri: str, run_id: str, folder: Path) -> Path:
    """The shipped copy of `folder` (relative to the project root), downloaded once per machine."""
    from dlnet import tracking

    cache = Path(tempfile.gettempdir()) / f"dlnet-data-{run_id}"
    target = cache / folder
    if (target / "meta.json").is_file():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=f"dlnet-data-{run_id}-", dir=tempfile.gettempdir()))
    try:
        downloaded = tracking.download_artifacts(uri, run_id, f"{ARTIFACT_ROOT}/{folder.as_posix()}", scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(downloaded, target)  # atomic: two jobs on one machine never see half a folder
        except OSError:
            if not (target / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
