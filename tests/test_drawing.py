"""dlnet.drawing: a run's figures drawn in a worker process, the same files, and never lost to it.

The worker is a real spawned process; these tests start it, kill it, and stop it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from dlnet import drawing, plots

EPOCHS = list(range(1, 201))
TRAIN = [1.0 / epoch for epoch in EPOCHS]
VAL = [1.2 / epoch for epoch in EPOCHS]


@pytest.fixture
def worker():
    drawing.start()
    deadline = time.monotonic() + 60
    while not drawing._ready[0].done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drawing._ready[0].exception() is None, "the worker could not import dlnet.plots"
    yield
    drawing.stop()


def worker_pid() -> int:
    return drawing.draw(os.getpid).wait()


def test_without_a_worker_figures_are_drawn_in_this_process(tmp_path):
    assert worker_pid() == os.getpid()
    path = drawing.draw(plots.loss_curve, EPOCHS, TRAIN, VAL, tmp_path / "loss.png", title="t").wait()
    assert path == tmp_path / "loss.png" and path.read_bytes().startswith(b"\x89PNG")


def test_the_worker_draws_the_same_files_in_another_process(worker, tmp_path):
    assert worker_pid() != os.getpid()
    here = plots.loss_curve(EPOCHS, TRAIN, VAL, tmp_path / "here.png", title="run", log_scale=True)
    there = drawing.draw("loss_curve", EPOCHS, TRAIN, VAL, tmp_path / "there.png", title="run", log_scale=True)
    assert there.wait().read_bytes() == here.read_bytes()
    here = plots.confusion_matrix_plot([[60, 3], [2, 40]], tmp_path / "cm_here.png", title="run (val)")
    there = drawing.draw(plots.confusion_matrix_plot, [[60, 3], [2, 40]], tmp_path / "cm_there.png", title="run (val)")
    assert there.wait().read_bytes() == here.read_bytes()


def test_an_error_while_drawing_reaches_the_run(worker, tmp_path):
    failing = drawing.draw(plots.confusion_matrix_plot, [[1, 2, 3]], tmp_path / "cm.png")
    assert failing.future is not None  # drawn in the worker
    with pytest.raises(ValueError, match="does not match 2 labels"):
        failing.wait()
    assert not (tmp_path / "cm.png").exists()


def test_a_killed_worker_loses_no_figure(worker, tmp_path):
    pid = worker_pid()
    os.kill(pid, signal.SIGKILL)
    # Being drawn when the worker died, or asked of a dead worker: both are drawn here.
    path = drawing.draw(plots.loss_curve, EPOCHS, TRAIN, None, tmp_path / "loss.png").wait()
    assert path.read_bytes().startswith(b"\x89PNG")
    assert worker_pid() == os.getpid()


def test_the_worker_ignores_ctrl_c_and_stop_ends_it(worker, tmp_path):
    pid = worker_pid()
    os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group; the sweep's process handles it
    time.sleep(0.2)
    assert worker_pid() == pid
    drawing.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the worker {pid} outlived stop()")
    assert worker_pid() == os.getpid()


def test_stopping_a_sweeps_workers_ends_the_worker_without_waiting_on_the_resource_tracker(worker):
    """A failed or interrupted sweep stops its children (dlnet.cli._stop_workers). The spawned worker
    comes with multiprocessing's resource tracker, which ignores SIGTERM by design and ends once this
    process does: it is left to end so, not waited for over the whole grace period."""
    import psutil

    from dlnet.cli import _is_resource_tracker, _stop_workers

    pid = worker_pid()
    trackers = [child for child in psutil.Process().children(recursive=True) if _is_resource_tracker(child)]
    assert trackers, "a spawned worker starts multiprocessing's resource tracker"
    grace = 60.0
    started = time.monotonic()
    _stop_workers(grace_seconds=grace)
    assert time.monotonic() - started < grace / 2, "waited on a process that ignores SIGTERM"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert all(tracker.is_running() for tracker in trackers)  # it ends with this process, on its own
