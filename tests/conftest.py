"""Shared fixtures: a built copy of the project, and running the real command-line tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# What a fresh clone holds that the pipeline and the app need.
PROJECT_FILES = (
    "conf",
    "data/raw",
    "data/README.md",
    "src",
    "scripts/python",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvcignore",
    "docs/dvc_plots_offline.html",
)


def copy_project(dest: Path, *, git: bool = False) -> Path:
    """A copy of the project's sources and raw data in `dest` (a git repository if `git`)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "tmp"))
        elif source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if git:
        for args in (
            ["init", "-q"],
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
        ):
            subprocess.run(["git", *args], cwd=dest, check=True)
    return dest


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for the project's tools: the virtualenv first on PATH, no inherited MLflow URI."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_tool(args: list[str], cwd: Path, *, timeout: float = 300, check: bool = False, **extra_env: str):
    """Run a project command (`dlnet-train`, `dvc`, `python -m ...`) for real in a subprocess."""
    done = subprocess.run(args, cwd=cwd, env=tool_env(**extra_env), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def build_data(project: Path, overrides: list[str] | None = None) -> Path:
    """Write params.yaml for `overrides` and run the prepare and scale stages in `project`."""
    from dlnet.params import compose_defaults

    params = compose_defaults(project / "conf", overrides or [])
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("prepare", "scale"):
        run_tool([sys.executable, "-m", f"dlnet.data.{stage}"], project, check=True)
    return project


def build_variants(project: Path, data: tuple[str, ...], scales: tuple[str, ...]) -> Path:
    """Run the prepare and scale stages as dvc.yaml's matrix does, for the variants `data` × `scales`."""
    for name in data:
        run_tool(
            [
                sys.executable,
                "-m",
                "dlnet.data.prepare",
                "--data",
                f"conf/data/{name}.yaml",
                "--out",
                f"data/prepared/{name}",
            ],
            project,
            check=True,
        )
        for method in scales:
            run_tool(
                [
                    sys.executable,
                    "-m",
                    "dlnet.data.scale",
                    "--scale",
                    f"conf/scale/{method}.yaml",
                    "--in",
                    f"data/prepared/{name}",
                    "--out",
                    f"data/scaled/{name}-{method}",
                ],
                project,
                check=True,
            )
    return project


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """A project copy whose data/scaled holds the default configuration's data."""
    return build_data(copy_project(tmp_path_factory.mktemp("project")))


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"
