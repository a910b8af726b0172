"""Where a run's code and data came from: the git commit and the DVC digest of the scaled data."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

import yaml


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current one) holding dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here


def git_state(root: Path) -> dict[str, str]:
    """The commit checked out at `root` and whether the work tree differs from it, as they were
    when this process first asked: the code it runs is what it imported then (a sweep's jobs in
    one process ask 27 times, two git commands each)."""
    return dict(_git_state(Path(root).resolve()))


@functools.lru_cache(maxsize=8)
def _git_state(root: Path) -> dict[str, str]:

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git.commit": "none"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git.commit": commit, "git.dirty": str(bool(status)).lower()}


def dvc_digest(root: Path, out: Path) -> str:
    """The md5 DVC recorded in dvc.lock for the output `out` (a folder), or 'none'."""
    lock = root / "dvc.lock"
    try:
        stat = lock.stat()
    except OSError:
        return "none"
    outs = _locked_outs(str(lock.resolve()), stat.st_mtime_ns, stat.st_size)
    return outs.get(Path(out), "none")


@functools.lru_cache(maxsize=8)
def _locked_outs(lock: str, mtime_ns: int, size: int) -> dict[Path, str]:
    """Every output's md5 in the dvc.lock at `lock`, read once per version of the file (its
    modification time and size): a sweep's jobs all ask, and parsing it took ~17 ms a job."""
    stages = (yaml.load(Path(lock).read_text(), Loader=_SafeLoader) or {}).get("stages", {})
    outs: dict[Path, str] = {}
    for stage in stages.values():
        for entry in stage.get("outs", []):
            outs.setdefault(Path(entry.get("path", "")), str(entry.get("md5", "none")))
    return outs


# libyaml's loader where PyYAML was built with it (the wheels are): the same documents, 4x faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def files_digest(paths: list[Path]) -> str:
    """SHA-256 over the bytes of `paths` in order: what the run actually read."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
