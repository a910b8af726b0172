"""Measuring side by side: interleaved repetitions, medians and spreads, thread settings."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, quartiles, min and max of `samples` (seconds or any unit), and their count."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {"n": 0}
    if n >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "n": n,
        "median": statistics.median(ordered),
        "q1": q1,
        "q3": q3,
        "min": ordered[0],
        "max": ordered[-1],
        "samples": list(samples),
    }


def scaled(stats: dict[str, Any], factor: float) -> dict[str, Any]:
    """`stats` with every value multiplied by `factor` (e.g. seconds per run -> seconds per epoch)."""
    out = dict(stats)
    for key in ("median", "q1", "q3", "min", "max"):
        if key in out:
            out[key] = out[key] * factor
    if "samples" in out:
        out["samples"] = [s * factor for s in out["samples"]]
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call of `fn` (garbage collection off during the call), and its result."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
    return seconds, result


def interleave(
    contenders: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Time each contender `repeats` times, taking turns, after `warmup` untimed rounds.

    Round r runs the contenders in the order rotated by r (A B C, B C A, C A B, ...), so no
    contender always runs right after the same other one. Returns the seconds of every call by
    name, and the result of each contender's last call.
    """
    names = list(contenders)
    last: dict[str, Any] = {}
    for _ in range(warmup):
        for name in names:
            last[name] = contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        gc.collect()  # once per round: a full collection can take 0.1 s once PyTorch is loaded
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            seconds, last[name] = timed(contenders[name])
            times[name].append(seconds)
    return times, last


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl) and PyTorch (if imported) to `n` threads inside the block."""
    from threadpoolctl import threadpool_limits

    torch = _torch_if_loaded()
    before = torch.get_num_threads() if torch else None
    with threadpool_limits(limits=n):
        if torch:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch:
                torch.set_num_threads(before)


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")


def interleave_marginal(
    contenders: Mapping[str, tuple[Callable[[], Any], Callable[[], Any]]],
    short: int,
    long: int,
    repeats: int,
    warmup: int = 1,
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Any]]:
    """Time per epoch as the marginal cost: (long run - short run) / (long - short epochs).

    Each contender gives two callables, a run of `short` epochs and one of `long`. Each round, the
    contenders take turns (in rotated order); a contender's turn is an untimed short run, then the
    timed short run, then the timed long run, back to back. The difference leaves out what a run
    pays once (allocating and first touching its arrays, building its model), which for a few
    epochs of a large problem would otherwise swamp the per-epoch cost; the untimed run first puts
    both timed runs in the same state, so that the once-per-run cost does not depend on how much
    memory the contender before it left to the kernel (first touching a GB of fresh memory costs
    from 0.1 s to several seconds on a shared machine). Returns the per-epoch samples, the
    once-per-run samples (short run minus `short` epochs), and each long run's result.
    """
    names = list(contenders)
    last: dict[str, Any] = {}
    for _ in range(warmup):
        for name in names:
            last[name] = contenders[name][1]()
    per_epoch: dict[str, list[float]] = {name: [] for name in names}
    once: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        gc.collect()
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            short_run, long_run = contenders[name]
            short_run()
            t_short, _ = timed(short_run)
            t_long, last[name] = timed(long_run)
            per_epoch[name].append((t_long - t_short) / (long - short))
            once[name].append(t_short - short * per_epoch[name][-1])
    return per_epoch, once, last
