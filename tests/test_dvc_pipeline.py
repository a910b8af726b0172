"""`dvc repro` of the data stages in a temporary copy of the repository.

Runs only `prepare` and `scale` (`dvc repro scale`), and checks that DVC reruns exactly the
stages whose declared params changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin: `python` in dvc.yaml must be this one
TRACKED = ["conf", "data/raw", "src", "dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore", ".gitignore"]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    """A git repository holding the files the pipeline needs, and the environment to run DVC in."""
    repo = tmp_path / "repo"
    for name in TRACKED:
        source = ROOT / name
        if not source.exists():
            pytest.skip(f"{name} missing from the project")
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo / "src"),  # the copy's code, not the editable install's
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(tmp_path / "dvc-site-cache"),
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    run(["git", "init", "-q"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "pipeline"], repo, env)
    return repo, env


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], repo, env).stdout


def ran(output: str) -> set[str]:
    return {stage for stage in ("prepare", "scale") if f"Running stage '{stage}'" in output}


def edit_params(repo: Path, key: str, value) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    group, name = key.split(".")
    params.setdefault(group, {})[name] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_repro_then_up_to_date_then_only_what_changed(repo):
    repo, env = repo
    first = dvc(repo, env, "repro", "scale")
    assert ran(first) == {"prepare", "scale"}
    for part in ("train", "val", "test"):
        assert (repo / "data" / "prepared" / f"{part}.csv").is_file()
        assert (repo / "data" / "scaled" / f"{part}.csv").is_file()
    meta = json.loads((repo / "data" / "scaled" / "meta.json").read_text())
    assert meta["rows"] == {"train": 409, "val": 137, "test": 137}
    assert (repo / "dvc.lock").is_file()

    second = dvc(repo, env, "repro", "scale")
    assert ran(second) == set()
    assert "up to date" in second or "didn't change" in second

    # a training key is read by neither stage
    edit_params(repo, "optim.lr", 0.123)
    assert ran(dvc(repo, env, "repro", "scale")) == set()

    # the scale method reruns scale only
    edit_params(repo, "scale.method", "minmax")
    third = dvc(repo, env, "repro", "scale")
    assert ran(third) == {"scale"}
    assert json.loads((repo / "data" / "scaled" / "meta.json").read_text())["scale"] == "minmax"

    # a data key reruns both
    edit_params(repo, "data.split_seed", 1)
    assert ran(dvc(repo, env, "repro", "scale")) == {"prepare", "scale"}
    assert json.loads((repo / "data" / "scaled" / "meta.json").read_text())["split_seed"] == 1
