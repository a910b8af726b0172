"""`dvc repro` of the data stages in a temporary copy of the repository.

Runs only `prepare` and `scale` (`dvc repro scale`: every data variant), and checks that DVC
reruns exactly the stages, and the variants, whose declared params changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin: `python` in dvc.yaml must be this one
TRACKED = [
    "conf",
    "data/raw",
    "src",
    "scripts/python",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
]

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
    """The stages (with their variant: `scale@wdbc-minmax`) that DVC ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


VARIANTS = [f"{data}-{scale}" for data in ("original", "wdbc", "article") for scale in ("standard", "minmax")]
EVERY_STAGE = {f"prepare@{data}" for data in ("original", "wdbc", "article")} | {f"scale@{v}" for v in VARIANTS}


def edit_params(repo: Path, key: str, value, path: str = "params.yaml") -> None:
    path = repo / path
    params = yaml.safe_load(path.read_text())
    *groups, name = key.split(".")
    section = params
    for group in groups:
        section = section.setdefault(group, {})
    section[name] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def meta(repo: Path, variant: str) -> dict:
    return json.loads((repo / "data" / "scaled" / variant / "meta.json").read_text())


def test_repro_builds_every_variant_then_only_what_changed(repo):
    repo, env = repo
    first = dvc(repo, env, "repro", "scale")
    assert ran(first) == EVERY_STAGE
    for variant in VARIANTS:
        for part in ("train", "val", "test"):
            assert (repo / "data" / "scaled" / variant / f"{part}.csv").is_file()
        assert meta(repo, variant)["variant"] == variant
    assert meta(repo, "original-standard")["rows"] == {"train": 409, "val": 137, "test": 137}
    assert meta(repo, "article-minmax")["rows"] == {"train": 500, "val": 182, "test": 0}
    assert meta(repo, "wdbc-minmax")["dataset"] == "wdbc" and meta(repo, "wdbc-minmax")["scale"] == "minmax"
    assert (repo / "dvc.lock").is_file()

    second = dvc(repo, env, "repro", "scale")
    assert ran(second) == set()
    assert "up to date" in second or "didn't change" in second

    # a training key, or the choice params.yaml makes, is read by no data stage
    edit_params(repo, "optim.lr", 0.123)
    edit_params(repo, "scale.method", "minmax")
    assert ran(dvc(repo, env, "repro", "scale")) == set()

    # a data variant's own file reruns that variant only, both its scalings
    edit_params(repo, "split_seed", 1, path="conf/data/wdbc.yaml")
    assert ran(dvc(repo, env, "repro", "scale")) == {"prepare@wdbc", "scale@wdbc-standard", "scale@wdbc-minmax"}
    assert meta(repo, "wdbc-standard")["split_seed"] == 1 and meta(repo, "original-standard")["split_seed"] == 0


def test_a_new_variant_is_built_alone(repo):
    repo, env = repo
    dvc(repo, env, "repro", "scale")
    variant = yaml.safe_load((repo / "conf" / "data" / "original.yaml").read_text())
    variant.update(variant="median", missing="median")
    (repo / "conf" / "data" / "median.yaml").write_text(yaml.safe_dump(variant))
    edit_params(repo, "variants.data", ["original", "wdbc", "article", "median"], path="conf/variants.yaml")
    assert ran(dvc(repo, env, "repro", "scale")) == {"prepare@median", "scale@median-standard", "scale@median-minmax"}
    built = meta(repo, "median-standard")
    assert built["missing"] == "median" and built["rows"]["train"] + built["rows"]["val"] + built["rows"]["test"] == 699


def test_stages_run_the_projects_python_whatever_is_on_path(repo, tmp_path):
    """`.venv/bin/dvc repro` without the virtualenv on PATH: scripts/python finds the project's Python."""
    repo, env = repo
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # stands for the project's venv
    (venv_bin / "python").chmod(0o755)
    env = dict(env, PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN))
    done = subprocess.run(
        [str(BIN / "dvc"), "repro", "prepare@original"], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (repo / "data" / "prepared" / "original" / "train.csv").is_file()
