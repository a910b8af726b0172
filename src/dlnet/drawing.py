"""A run's figures drawn in a second process, while the run sends its other results.

Matplotlib takes ~140 ms to draw a run's two figures (dlnet.plots), and nothing else of a run's
end needs them until its artifacts are logged: a sweep draws them in a worker process on the
machine's other core while it logs the final metrics, the results files and the packaged model.

A sweep that runs its jobs in its own process (Hydra's basic launcher) starts the worker when it
starts (`start`) and stops it when it ends (`stop`); everywhere else, and whenever the worker is
not ready or has gone, `draw` draws in the calling process, as before. Either way the figures are
the same files, and an error while drawing is raised to the run.

The worker ignores SIGINT: Ctrl-C reaches the whole process group, and the sweep's own process
ends its runs and then stops the worker. A worker left behind by a killed sweep exits when its
parent's end of the pipe closes.
"""

from __future__ import annotations

import contextlib
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
_ready: list[Future] = []  # done once the worker has imported matplotlib


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm_up() -> None:
    import dlnet.plots  # noqa: F401  (matplotlib: half a second, paid once, away from the runs)


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


class Drawing:
    """A figure being drawn: `wait()` returns its path, or raises what drawing it raised."""

    def __init__(self, figure: str | Callable[..., Path], args: tuple, kwargs: dict[str, Any]) -> None:
        self.figure, self.args, self.kwargs = figure, args, kwargs
        self.future: Future | None = None
        if _pool and _ready[0].done() and _ready[0].exception() is None:
            with contextlib.suppress(RuntimeError):  # BrokenProcessPool, or shut down: draw here
                self.future = _pool[0].submit(_draw, figure, args, kwargs)

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
