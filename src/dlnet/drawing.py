"""The sweep's second process: a run's figures drawn there, and its end sent from there.

Matplotlib takes ~140 ms to draw a run's two figures (dlnet.plots), and nothing else of a run's
end needs them until its artifacts are logged; sending a run's end to MLflow takes ~150 ms more
(dlnet.run_end). A sweep that runs its jobs in its own process (Hydra's basic launcher) does both in
a worker process on the machine's other core while it trains the next run.

The sweep starts the worker when it starts (`start`) and stops it when it ends (`stop`); everywhere
else, and whenever the worker is not ready or has gone, `draw` draws in the calling process, as
before. Either way the figures are the same files, and an error while drawing is raised to the run.

The worker ignores SIGINT: Ctrl-C reaches the whole process group, and the sweep's own process
waits for the run ends in flight, ends its runs and then stops the worker. A worker left behind
by a killed sweep exits when its parent's end of the pipe closes.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

# A drawing not done by then is drawn again here: a stuck worker never holds a run back for long.
WAIT_SECONDS = 60.0

_pool: list[ProcessPoolExecutor] = []  # the worker, while a sweep runs
_ready: list[Future] = []  # done once the worker has imported matplotlib and MLflow


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm_up() -> None:
    # matplotlib and MLflow: two seconds, paid once, away from the runs
    import dlnet.job  # noqa: F401
    import dlnet.plots  # noqa: F401
    import dlnet.run_end  # noqa: F401
    import dlnet.tracking_model  # noqa: F401

    _settle_heap()


def _settle_heap() -> None:
    """Set what this process holds now aside from the garbage collector's scans (as dlnet.cli's
    settle_heap does in the sweep's own process): collections would scan all of MLflow, pandas
    and matplotlib again and again."""
    import gc

    gc.collect()
    gc.freeze()


def start() -> None:
    """Start the worker (returns at once; it gets ready in the background). Idempotent."""
    if _pool:
        return
    try:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
        )
        _ready.append(pool.submit(_warm_up))
    except (OSError, RuntimeError):  # no process to spare: draw in this one
        return
    _pool.append(pool)


def stop(wait: bool = True) -> None:
    """Stop the worker after what it is drawing (without `wait`, return at once and let it end
    meanwhile); a no-op without one."""
    while _pool:
        _pool.pop().shutdown(wait=wait, cancel_futures=True)
    _ready.clear()


def ready() -> bool:
    """Whether the worker is there and ready (its imports done)."""
    return bool(_pool) and _ready[0].done() and _ready[0].exception() is None


def submit(function: Callable[..., Any], *args: Any) -> Future | None:
    """`function(*args)` in the worker if it is ready; None if it is not, or has gone."""
    if not ready():
        return None
    try:
        return _pool[0].submit(function, *args)
    except RuntimeError:  # BrokenProcessPool, or shut down
        return None


def kill() -> None:
    """Stop a stuck worker at once: what it was doing is done again in this process."""
    for pool in _pool:
        for process in list(getattr(pool, "_processes", {}).values()):  # 3.14 names it terminate_workers()
            process.kill()
    stop(wait=False)


class Drawing:
    """A figure being drawn: `wait()` returns its path, or raises what drawing it raised."""

    def __init__(self, figure: str | Callable[..., Path], args: tuple, kwargs: dict[str, Any]) -> None:
        self.figure, self.args, self.kwargs = figure, args, kwargs
        self.future = submit(_draw, figure, args, kwargs)

    def wait(self) -> Path:
        if self.future is not None:
            try:
                return self.future.result(timeout=WAIT_SECONDS)
            except (BrokenProcessPool, TimeoutError):
                pass  # the worker died or is stuck: draw here instead
        return _draw(self.figure, self.args, self.kwargs)


def draw(figure: str | Callable[..., Path], *args: Any, **kwargs: Any) -> Drawing:
    """`figure(*args, **kwargs)`, drawn in the worker when it is ready, else in this process when
    the result's `wait()` is called, which gives the path written. `figure` names a function of
    dlnet.plots (so that this process need not import matplotlib), or is a picklable function."""
    return Drawing(figure, args, kwargs)


def _draw(figure: str | Callable[..., Path], args: tuple, kwargs: dict[str, Any]) -> Path:
    if isinstance(figure, str):
        from dlnet import plots

        return getattr(plots, figure)(*args, **kwargs)
    return figure(*args, **kwargs)
