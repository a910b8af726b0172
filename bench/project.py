"""Project copies with built data, for the sections that run the real tools.

The helpers are the test suite's own (tests/conftest.py: `copy_project`, `build_data`,
`run_tool`, `sqlite_uri`), loaded by path so the benchmark and the tests build projects the same way.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@cache
def helpers() -> ModuleType:
    """tests/conftest.py as a module (it needs pytest, a dev dependency `make setup` installs)."""
    spec = importlib.util.spec_from_file_location("dlnet_bench_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Workspace:
    """A temporary folder for the run's project copies; removed at the end unless kept."""

    def __init__(self, keep: bool = False):
        self.path = Path(tempfile.mkdtemp(prefix="dlnet-bench-"))
        self.keep = keep
        self._built: Path | None = None

    def built_project(self) -> Path:
        """One project copy whose data/scaled holds the default configuration's data (built once)."""
        if self._built is None:
            self._built = helpers().build_data(helpers().copy_project(self.path / "built", git=True))
        return self._built

    def fresh(self, name: str, *, git: bool = False) -> Path:
        return helpers().copy_project(self.path / name, git=git)

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def sqlite_uri(path: Path) -> str:
    return helpers().sqlite_uri(path)


def run_tool(args: list[str], cwd: Path, **kwargs):
    return helpers().run_tool(args, cwd, **kwargs)


def tool(name: str) -> str:
    """The path of a console script of the virtualenv (dlnet-train, dvc)."""
    return str(BIN / name)
