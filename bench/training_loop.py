"""Section 1, the training loop: time per epoch of dlnet against its peers, side by side.

Every case trains the same network from the same initial weights with each contender of
`bench.peers`, in turns, and reports the median time per epoch with its spread, the speed-up of
dlnet over each peer (ratio of medians from the same run), and each contender's final loss and
accuracy on the training set, judged by one function, so that no speed is bought with a
different algorithm.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from bench import datasets, machine, measure, peers

REAL = {
    "hidden": 15,
    "lr": 0.07,
    "mini_batch": 32,
    # Epochs per timed run, so that one run of the slowest peer takes about half a second.
    "epochs": {"full": 2000, "mini": 100, "stochastic": 5},
    # Rounds per strategy: the short full-batch runs (a tenth of a second) need the most to give a
    # steady median on a shared machine.
    "repeats": {"full": 11, "mini": 9, "stochastic": 7},
    "threads": 1,
    "rows_limit": None,
    "same_numbers_epochs": (20, 500),
    # Marginal cost from runs of 1 and 9 epochs: a run's one-off cost (allocating and first touching
    # some GB of arrays, which varies a lot on a shared machine) would otherwise weigh as much as
    # several epochs.
    "large": {
        "rows": 200_000,
        "features": 30,
        "hidden": 256,
        "epochs": 9,
        "short_epochs": 1,
        "repeats": 5,
        "threads": 2,
        "warmup": 0,
    },
}
SMOKE = {
    "hidden": 15,
    "lr": 0.07,
    "mini_batch": 32,
    "epochs": {"full": 20, "mini": 2, "stochastic": 1},
    "repeats": {"full": 2, "mini": 2, "stochastic": 2},
    "threads": 1,
    "rows_limit": 128,  # the first rows of each set only
    "same_numbers_epochs": (2, 5),
    "large": {
        "rows": 1_000,
        "features": 30,
        "hidden": 16,
        "epochs": 20,
        "short_epochs": 2,
        "repeats": 2,
        "threads": 2,
        "warmup": 0,
    },
}
STRATEGIES = ("full", "mini", "stochastic")


def _first_nonfinite(losses: list[float]) -> int | None:
    for epoch, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return epoch
    return None


def run_case(
    data: datasets.DataSet,
    *,
    hidden: int,
    strategy: str,
    batch_size: int,
    epochs: int,
    lr: float,
    repeats: int,
    threads: int,
    dtype: str = "float64",
    names=peers.NAMES,
    short_epochs: int | None = None,
    warmup: int = 1,
) -> dict[str, Any]:
    """Time every contender on one problem; return the case's record.

    With `short_epochs`, the time per epoch is the marginal cost between runs of `short_epochs` and
    `epochs` (see `measure.interleave_marginal`), and the once-per-run cost is reported beside it.
    """
    m = data.X.shape[1]
    size = {"full": m, "mini": batch_size, "stochastic": 1}[strategy]
    task = peers.Task(
        data.X,
        data.Y,
        peers.initial_params(data.X.shape[0], hidden),
        lr=lr,
        epochs=epochs,
        strategy=strategy,
        batch_size=size,
        seed=0,
        dtype=np.dtype(dtype),
    )
    case: dict[str, Any] = {
        "dataset": data.name,
        "shape": data.shape,
        "rows": m,
        "features": data.X.shape[0],
        "hidden": hidden,
        "strategy": strategy,
        "batch_size": size,
        "epochs": epochs,
        "lr": lr,
        "dtype": dtype,
        "threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "short_epochs": short_epochs,
        "contenders": {},
    }
    runs = {}
    for name in names:
        if name == "pytorch" and peers.torch_module() is None:
            case["contenders"][name] = {"status": "not installed"}
            continue
        if short_epochs:
            runs[name] = (
                peers.PREPARE[name](dataclasses.replace(task, epochs=short_epochs)),
                peers.PREPARE[name](task),
            )
        else:
            runs[name] = peers.PREPARE[name](task)
    if strategy != "full" and "dlnet" in names and not short_epochs:
        runs[peers.FULL_BATCH] = peers.PREPARE["dlnet"](dataclasses.replace(task, strategy="full", batch_size=m))
    once: dict[str, list[float]] = {}
    with measure.threads(threads):
        if short_epochs:
            per_epoch, once, last = measure.interleave_marginal(runs, short_epochs, epochs, repeats, warmup)
        else:
            times, last = measure.interleave(runs, repeats, warmup)
            per_epoch = {name: [t / epochs for t in samples] for name, samples in times.items()}
    for name in runs:
        outcome: peers.Outcome = last[name]
        case["contenders"][name] = {
            "status": "ok",
            "per_epoch_s": measure.summary(per_epoch[name]),
            "once_per_run_s": measure.summary(once[name]) if name in once else None,
            "final": peers.evaluate(outcome.params, data.X, data.Y),
            "last_recorded_loss": outcome.losses[-1] if outcome.losses else None,
            "epochs_run": outcome.epochs_run,
            "losses_recorded": len(outcome.losses),
            "first_nonfinite_epoch": _first_nonfinite(outcome.losses),
        }
    # > 1: dlnet (each engine) is that many times faster than this contender.
    for reference in ("dlnet", "compiled"):
        base = case["contenders"].get(reference, {})
        if base.get("status") == "ok" and base["per_epoch_s"]["median"] > 0:
            for record in case["contenders"].values():
                if record.get("status") == "ok":
                    record[f"{reference}_speedup"] = record["per_epoch_s"]["median"] / base["per_epoch_s"]["median"]
    return case


def run(smoke: bool = False) -> dict[str, Any]:
    settings = SMOKE if smoke else REAL
    load_at_start = machine.load()
    peers.torch_module()  # imported before the thread limits are set, so they apply to it too
    cases = []
    for data in (datasets.article(), datasets.wdbc()):
        if settings["rows_limit"]:
            data = datasets.head(data, settings["rows_limit"])
        for strategy in STRATEGIES:
            cases.append(
                run_case(
                    data,
                    hidden=settings["hidden"],
                    strategy=strategy,
                    batch_size=settings["mini_batch"],
                    epochs=settings["epochs"][strategy],
                    lr=settings["lr"],
                    repeats=settings["repeats"][strategy],
                    threads=settings["threads"],
                )
            )
    large = settings["large"]
    data = datasets.synthetic(large["rows"], large["features"])
    # The article's formulation is left out at this size: it would double the section's time and
    # shows nothing the small cases do not; so is the compiled engine, whose full batch is plain
    # loops where BLAS's blocked products win (train.engine=auto runs NumPy for full batch).
    cases.append(
        run_case(
            data,
            hidden=large["hidden"],
            strategy="full",
            batch_size=large["rows"],
            epochs=large["epochs"],
            lr=settings["lr"],
            repeats=large["repeats"],
            threads=large["threads"],
            short_epochs=large["short_epochs"],
            warmup=large["warmup"],
            names=tuple(n for n in peers.NAMES if n not in ("article", "compiled")),
        )
    )
    del data
    return {
        "settings": settings,
        "cases": cases,
        "same_numbers": same_numbers(settings),
        "load": {"at_start": load_at_start, "at_end": machine.load()},
    }


def same_numbers(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The compiled engine against the NumPy engine: the same runs (same initial weights, seed and
    shuffles), the largest relative differences of the loss histories and of the final weights."""
    from dlnet.network import PARAM_NAMES, TwoLayerNet
    from dlnet.training import train

    data = datasets.article()
    if settings["rows_limit"]:
        data = datasets.head(data, settings["rows_limit"])
    out = []
    for dtype in ("float64", "float32"):
        for strategy, batch_size in (("full", None), ("mini", settings["mini_batch"]), ("stochastic", None)):
            for epochs in settings["same_numbers_epochs"]:
                runs = {}
                for engine in ("numpy", "compiled"):
                    net = TwoLayerNet(data.X.shape[0], settings["hidden"], rng=1, dtype=dtype)
                    history = train(
                        net,
                        data.X,
                        data.Y,
                        lr=settings["lr"],
                        epochs=epochs,
                        strategy=strategy,
                        batch_size=batch_size,
                        seed=0,
                        engine=engine,
                    )
                    runs[engine] = (
                        np.array(history.train_loss),
                        {k: net.params[k].astype(np.float64) for k in PARAM_NAMES},
                    )
                (l0, p0), (l1, p1) = runs["numpy"], runs["compiled"]
                out.append(
                    {
                        "dtype": dtype,
                        "strategy": strategy,
                        "batch_size": batch_size or (1 if strategy == "stochastic" else data.X.shape[1]),
                        "epochs": epochs,
                        "dataset": data.name,
                        "shape": data.shape,
                        "loss": float(np.max(np.abs(l1 - l0) / np.abs(l0))),
                        "weights": max(
                            float(np.max(np.abs(p1[k] - p0[k])) / np.max(np.abs(p0[k]))) for k in PARAM_NAMES
                        ),
                    }
                )
    return out
