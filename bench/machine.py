"""What the numbers were measured on: CPU, cores, load, library versions, BLAS."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "mlflow",
    "hydra-core",
    "hydra-joblib-launcher",
    "joblib",
    "dvc",
    "threadpoolctl",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def blas() -> list[dict[str, Any]]:
    """The thread pools threadpoolctl sees (BLAS libraries, OpenMP), with their kernels."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: info.get(k) for k in keep if info.get(k) is not None} for info in threadpool_info()]


def git_commit() -> dict[str, str]:
    """The commit measured (short) and whether the work tree differed from it."""
    from dlnet.lineage import git_state

    state = git_state(REPO)
    commit = state.get("git.commit", "none")
    if commit == "none":
        return {"commit": "unknown"}
    return {"commit": commit[:7], "dirty": state["git.dirty"]}


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions(),
        "blas": blas(),
        "env": {
            k: os.environ[k]
            for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        },
        "git": git_commit(),
        "load_at_start": load(),
    }
