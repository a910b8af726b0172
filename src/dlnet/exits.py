"""How a dlnet process ends: its exit codes, and stop signals turned into a clean stop.

    0    the run (or the sweep) finished
    2    bad input: a config value or the data; nothing was started
    3    the single run diverged (it is recorded FAILED, with the epoch and the reason)
    4    the tracking store failed; the run's results are kept in its output folder
    130  interrupted by SIGINT (Ctrl-C); every run it started ended KILLED
    143  stopped by SIGTERM (kill, timeout, a scheduler); the same

The first SIGINT or SIGTERM is raised in the main thread (SIGTERM as :class:`Terminated`, a
KeyboardInterrupt), so both unwind the same way: every open run is ended KILLED with its
reason. The process is then stopping, and further signals are only noted: a second Ctrl-C
cannot cut the clean-up short and leave a run RUNNING (SIGKILL still can; `dlnet-runs reap`
ends such runs later).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FINISHED = 0
BAD_INPUT = 2
DIVERGED = 3
TRACKING_FAILED = 4
INTERRUPTED = 128 + signal.SIGINT
TERMINATED = 128 + signal.SIGTERM

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop the way Ctrl-C does."""


_stopping: list[int] = []  # the signals received; the first one stops the process
_raised: list[bool] = []  # the stop was raised: later signals are only noted
_held = [0]  # how many `signals_held` sections the main thread is in


def _stop(signum: int, frame: object) -> None:
    _stopping.append(signum)
    if not _held[0]:
        _raise_stop()


def _raise_stop() -> None:
    if _raised or not _stopping:
        return  # already stopping: let the clean-up end every run
    _raised.append(True)
    raise Terminated("SIGTERM") if _stopping[0] == signal.SIGTERM else KeyboardInterrupt()


def stop_cleanly_on_signals() -> None:
    """SIGINT and SIGTERM: stop once, cleanly (call once, in the main thread)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)


def stopping() -> bool:
    """Whether a stop signal has arrived."""
    return bool(_stopping)


def ignore_stop_signals() -> None:
    """The process is exiting with its code: a late SIGINT/SIGTERM must not kill it mid-exit.

    (While Python shuts down it restores the default handlers, and a signal arriving then would
    end the process by that signal instead of the exit code it chose.)
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def interrupt_code(interrupt: KeyboardInterrupt) -> int:
    return TERMINATED if isinstance(interrupt, Terminated) else INTERRUPTED


def interrupt_reason(interrupt: BaseException) -> str:
    return "interrupted (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted (Ctrl-C, SIGINT)"


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop back for the duration: a SIGINT or SIGTERM arriving meanwhile is raised when it ends.

    Held in Python, not with the signal mask: a signal the interpreter has already taken in runs
    its handler at the next bytecode, masked or not. Outside the main thread (where signal
    handlers run) it holds nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held[0] += 1
    try:
        yield
    finally:
        _held[0] -= 1
        if not _held[0]:
            _raise_stop()
