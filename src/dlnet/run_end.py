"""A run's end: its results, on disk already, sent to the tracking store, and the run ended.

Sending a run's end is ~300 ms a run of drawing and of MLflow's work: the figures, the results
files, the packaged model, the final metrics, the run's status. A sweep whose jobs run in its
own process (Hydra's basic launcher) hands each run's end to its second process (dlnet.drawing's
worker) and trains the next run meanwhile. Everywhere else, and
whenever that worker is not ready, the end is sent in the run's own process, by the same code
(`send`).

A handed-off end keeps the promises of one sent here:
- The run ends FINISHED or FAILED, never RUNNING. One end at most is in flight: the next
  hand-off, the sweep's end and every stop (Ctrl-C, SIGTERM, a failed job) wait for it (`wait`).
- A worker that died (SIGKILL, SIGTERM) or is stuck for WAIT_SECONDS loses nothing: the end is
  sent again from here, from the same results, unless the run was ended meanwhile.
- If the store fails meanwhile, TrackingError names the run's folder for `dlnet-runs sync`.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from dlnet import drawing, results, tracking
from dlnet.config import Config

WAIT_SECONDS = drawing.WAIT_SECONDS


class ModelInputs(NamedTuple):
    """What the packaged model is made of (dlnet.job.log_model)."""

    weights: dict[str, np.ndarray]  # W1, b1, W2, b2
    config: Config
    scaler_json: bytes  # the scaler read with the run's data
    X_example: np.ndarray  # (features, 3): the input example, scaled


@dataclass
class RunEnd:
    """What a trained run has left to send; its results are in `saved` (dlnet.results)."""

    uri: str
    experiment_id: str
    run_id: str
    run_name: str
    saved: Path
    params: dict[str, str]  # as logged: the packaged model carries them
    engine: str  # which engine trained (tag dlnet.engine)
    epochs_run: int
    final: dict[str, float]  # the final metrics (finite ones), at step `epochs_run`
    figures: list[tuple[str, tuple, dict[str, Any]]]  # dlnet.plots functions and their arguments
    tags: dict[str, Any]  # set last: the diverged epoch, the pruning
    failure: str | None = None  # the run ends FAILED, saying why (diverged)
    model: ModelInputs | None = None  # None: no packaged model (diverged, pruned)


# The ends handed to the worker and not yet waited for, oldest first (at most one).
_in_flight: list[tuple[Future, RunEnd]] = []


def finish(logger: tracking.RunLogger, end: RunEnd, *, hand_off: bool = True) -> str | None:
    """Send `end`, the end of `logger`'s run: to the sweep's worker when it is ready and `hand_off`
    (returns None: the model's URI is not known yet), else here (returns the model's URI, if any).

    Sent here, the run is ended as `logger`'s context (dlnet.tracking.run) closes.
    """
    if not (hand_off and drawing.ready()):
        return send(logger, end)
    logger.flush()  # the history's points from here: the worker has the longer share of a run's end
    if logger.offline is None:  # else the store failed: sent here, which says where the results are
        wait()  # the previous run's end first: one in flight at most
        future = drawing.submit(_send_there, end)
        if future is not None:
            logger.handed_off = True
            _in_flight.append((future, end))
            return None
    return send(logger, end)


def wait() -> None:
    """Until every handed-off end is sent (or sent again from here). Raises the first failure."""
    failure: BaseException | None = None
    while _in_flight:
        future, end = _in_flight[0]
        try:
            _collect(future, end)
        except Exception as error:
            failure = failure or error
        _in_flight.pop(0)  # not on KeyboardInterrupt: a stop's clean-up waits for it again
    if failure is not None:
        raise failure


def send(logger: tracking.RunLogger, end: RunEnd) -> str | None:
    """Send `end` through `logger`, a logger of its run; return the model's URI (None if none).
    The run is ended by the context `logger` came from (dlnet.tracking.run or resume)."""
    figures = [drawing.draw(name, *args, **kwargs) for name, args, kwargs in end.figures]
    logger.flush(tags={"dlnet.engine": end.engine})
    for artifact in results.ARTIFACTS:
        if not artifact.endswith(".png") and (end.saved / artifact).is_file():
            logger.log_artifact(end.saved / artifact)
    model_uri = None
    if end.model is not None and logger.offline is None:
        from dlnet.job import log_model

        # The final metrics go with the model: logged once, on the run, linked to the model.
        model_uri = log_model(
            logger.uri,
            logger.run_id,
            *end.model,
            step=end.epochs_run,
            metrics=end.final,
            experiment_id=end.experiment_id,
            params=end.params,
        )
        logger.remember(end.final, step=end.epochs_run)
    else:
        logger.log_metrics(end.final, step=end.epochs_run)
    for figure in figures:  # on disk before the run ends, as every other result
        logger.log_artifact(figure.wait())
    if end.tags:
        logger.set_tags(end.tags)
    if end.failure:
        logger.fail(end.failure)
    return model_uri


def _send_there(end: RunEnd) -> None:
    """In the worker: send `end` and end its run (FAILED, saying why, if sending raised)."""
    with tracking.resume(end.uri, end.run_id, end.experiment_id) as logger:
        send(logger, end)


def _collect(future: Future, end: RunEnd) -> None:
    """Wait for a handed-off end; a store failure names the run's folder for `dlnet-runs sync`."""
    try:
        _sent_there_or_here(future, end)
    except tracking.TrackingError as error:
        raise tracking.TrackingError(
            f"{error}. Run {end.run_name!r} trained; its results are saved in {end.saved}: send them once the "
            f"store is back with `dlnet-runs sync {end.saved}`"
        ) from error
    tracking.remember_sent(end.uri, end.run_id, end.final, end.epochs_run)


def _sent_there_or_here(future: Future, end: RunEnd) -> None:
    """Until the worker has sent `end`; sent again from here if the worker could not."""
    try:
        future.result(timeout=WAIT_SECONDS)
    except tracking.TrackingError:
        raise
    except Exception as error:
        if isinstance(error, TimeoutError):
            drawing.kill()  # stuck: nothing of it may land after the end is sent from here
        if tracking.run_status(end.uri, end.run_id) == "RUNNING":
            _send_here(end)  # the worker died before or while sending it, or never got it
        elif not isinstance(error, (BrokenProcessPool, TimeoutError, CancelledError)):
            raise  # sending it raised: the worker ended the run FAILED, saying why


def _send_here(end: RunEnd) -> None:
    from dlnet import tracking_model

    if end.model is not None:
        with tracking.store_errors(end.uri, "looking for the run's model"):
            if tracking_model.settle_models(end.uri, end.experiment_id, end.run_id):
                end = replace(end, model=None, final={})  # the model and its metrics were sent before the worker died
    with tracking.resume(end.uri, end.run_id, end.experiment_id) as logger:
        send(logger, end)
