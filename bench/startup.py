"""Section 5, start-up: `dlnet-train --help`, a no-op `dvc repro`, and what the compiled engine
adds to a fresh process (importing Numba, loading the compiled code from its cache).

`dlnet-train --help` runs from the repository root, beside two references taking turns with it:
a bare `python -c pass` and `python -c "import mlflow"` (what --help would pay if it imported
MLflow). `dvc repro` runs in a fresh project copy (a git repository): once for real (prepare,
scale, train), then again with nothing to do, beside `dvc status` for reference.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from bench import measure
from bench.project import REPO, Workspace, run_tool, tool

FIRST_EPOCH = (
    "import numpy as np; from dlnet.network import TwoLayerNet; from dlnet.training import train; "
    "X = np.random.default_rng(0).standard_normal((9, 64)); Y = (X[:1] > 0) * 1.0; "
    "train(TwoLayerNet(9, 15, rng=1), X, Y, lr=0.07, epochs=1, strategy='stochastic', engine='{engine}')"
)
REAL = {"help_repeats": 7, "repro_repeats": 5, "warmup": 1, "references": True}
SMOKE = {"help_repeats": 1, "repro_repeats": 1, "warmup": 0, "references": False}


def _command(args: list[str], cwd, expect: str | None = None):
    def go():
        done = run_tool(args, cwd, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        if expect is not None and expect not in done.stdout + done.stderr:
            raise RuntimeError(f"{' '.join(args)} did not say {expect!r}: {done.stdout.strip()[-2000:]}")
        return done

    return go


def run(workspace: Workspace, smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    help_runs = {
        "dlnet-train --help": _command([tool("dlnet-train"), "--help"], REPO),
        "python -c pass": _command([sys.executable, "-c", "pass"], REPO),
    }
    if settings["references"]:
        help_runs["python -c 'import mlflow'"] = _command([sys.executable, "-c", "import mlflow"], REPO)
    help_times, _ = measure.interleave(help_runs, settings["help_repeats"], warmup=settings["warmup"])
    # One stochastic epoch in a fresh process with each engine; the warm-up round fills Numba's
    # cache if it is empty, so the compiled runs load compiled code, as a sweep worker does.
    engine_runs = {
        f"first epoch, {engine} engine": _command([sys.executable, "-c", FIRST_EPOCH.format(engine=engine)], REPO)
        for engine in ("numpy", "compiled")
    }
    engine_times, _ = measure.interleave(engine_runs, settings["help_repeats"], warmup=1)

    project = workspace.fresh("repro", git=True)
    start = time.perf_counter()
    _command([tool("dvc"), "repro"], project)()
    first = time.perf_counter() - start
    repro_runs = {
        "dvc repro (no-op)": _command([tool("dvc"), "repro"], project, expect="up to date"),
    }
    if settings["references"]:
        repro_runs["dvc status"] = _command([tool("dvc"), "status"], project)
    repro_times, _ = measure.interleave(repro_runs, settings["repro_repeats"], warmup=settings["warmup"])
    return {
        "settings": settings,
        "help": {name: measure.summary(t) for name, t in help_times.items()},
        "engines": {name: measure.summary(t) for name, t in engine_times.items()},
        "repro_first_s": first,
        "repro": {name: measure.summary(t) for name, t in repro_times.items()},
    }
