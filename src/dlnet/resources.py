"""Will a run fit its data and this machine? The config checks that need the data's size.

`check_fits` runs where the scaled data's meta.json is known (job.check_data), before any
MLflow run or sweep starts: a mini-batch larger than the training rows, or a config whose
arrays cannot fit in the memory available, stops there with a ConfigError naming the key.

The memory estimate follows the shapes network.py and training.py allocate. With f features,
h hidden units, s bytes per value of model.dtype (8 for float64, 4 for float32), m_t, m_v, m_x
training, validation and test rows, and b the batch size:

    forward(m) = s·(2·h·m + 4·m)                   the network._Buffers values a forward pass writes
                                                    for m samples: Z1, A1 (h, m); Z2, S, Yh, tmp (1, m)
    step(m)    = forward(m) + s·(h·m + 2·m + h·f + 2·h) + h·m
                                                    and a training step's backward pass: dZ1 (h, m);
                                                    dZ2 (1, m), ones (m, 1); dW1 (h, f), db1 (h, 1),
                                                    dW2 (1, h); the mask Z1 > 0 (h, m), a byte a value
    params     = s·(h·f + 2·h + 1)                  W1 (h, f), b1 (h, 1), W2 (1, h), b2 (1, 1)
    training   = step(m_t) for full batch; step(b) + step(m_t mod b) for mini; step(1) for stochastic
    evaluation = forward(m_v), the validation loss; + forward(m_t), the training loss, unless full
                 batch (whose training step computes it)
    metrics    = forward(max(m_t, m_v, m_x)): predict_proba after training, one part at a time
    data       = 8·4·(f + 2)·(m_t + m_v + m_x)     the CSV frames, float64 arrays and copies;
                 + 2·s·(f + 1)·m_t                  mini and stochastic: the sample-major copies
                                                    of X and Y and their shuffled buffers
    history    = 512·⌈epochs / log_every⌉          per recorded epoch: the History lists and
                                                    the loss-curve plot (~430 B measured)
    arrays     = 1.15·(params + training + evaluation + metrics)
                                                    the allocator's page rounding and NumPy's own
                                                    temporaries: measured 1-10% above the shapes
    process    = 400 MiB                            Python, NumPy, MLflow, matplotlib (a small run's
                                                    peak resident size: ~370 MiB measured)

The total is compared with the memory available now: MemAvailable in /proc/meminfo, lowered to
the room left under a cgroup (container) limit if there is one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from dlnet.config import Config, ConfigError

GIB = 2**30
HISTORY_BYTES_PER_POINT = 512
ARRAY_ALLOWANCE = 1.15
PROCESS_BYTES = 400 * 2**20
DATA_COPIES = 4  # CSV frame, float64 array, dtype copy, the frame logged as an MLflow dataset


def _forward(h: int, m: int, s: int) -> int:
    """Bytes a forward pass over m samples writes (the module's forward(m))."""
    return s * (2 * h * m + 4 * m)


def _step(h: int, f: int, m: int, s: int) -> int:
    """Bytes a training step on a batch of m samples writes (the module's step(m))."""
    return _forward(h, m, s) + s * (h * m + 2 * m + h * f + 2 * h) + h * m if m > 0 else 0


def estimate_bytes(config: Config, n_features: int, n_train: int, n_val: int, n_test: int = 0) -> dict[str, int]:
    """The bytes a run of `config` needs, by part: params, training, evaluation, metrics, data, history.

    Python integers throughout, so absurd widths give absurd numbers rather than overflow.
    """
    h, f, s = config.model.hidden_units, n_features, np.dtype(config.model.dtype).itemsize
    strategy = config.batch.name
    if strategy == "full":
        batch_sizes = [n_train]
    elif strategy == "stochastic":
        batch_sizes = [1]
    else:
        b = min(config.batch.size or 1, max(n_train, 1))
        batch_sizes = [b, n_train % b]
    rows = n_train + n_val + n_test
    recorded = -(-config.train.epochs // config.train.log_every)
    arrays = {
        "params": s * (h * f + 2 * h + 1),
        "training": sum(_step(h, f, m, s) for m in batch_sizes),
        "evaluation": _forward(h, n_val, s) + (0 if strategy == "full" else _forward(h, n_train, s)),
        "metrics": _forward(h, max(n_train, n_val, n_test), s),
    }
    return {
        **{part: math.ceil(ARRAY_ALLOWANCE * n) for part, n in arrays.items()},
        "data": 8 * DATA_COPIES * (f + 2) * rows + (0 if strategy == "full" else 2 * s * (f + 1) * n_train),
        "history": HISTORY_BYTES_PER_POINT * recorded,
        "process": PROCESS_BYTES,
    }


def available_bytes() -> int | None:
    """The memory a new run can use now, in bytes; None when it cannot be told."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            return None
    room = _cgroup_room()
    return available if room is None else min(available, room)


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup v2 memory limit, or None without a limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()), 0)
    except (OSError, ValueError):
        return None


def _gib(n: int) -> str:
    value = n / GIB
    return f"{value:,.1f}" if value >= 0.1 else f"{value:.3f}"


def check_fits(
    config: Config, n_features: int, n_train: int, n_val: int, n_test: int = 0, *, available: int | None = None
) -> None:
    """Raise ConfigError when `config` cannot run on data of this size on this machine.

    `available` is the memory to compare with, in bytes (default: what `available_bytes` finds).
    A row count of 0 means unknown: the batch-size check is then left to the data's own checks.
    """
    size = config.batch.size  # validate requires it for batch=mini
    if config.batch.name == "mini" and size is not None and n_train >= 1 and size > n_train:
        raise ConfigError(
            f"batch.size={config.batch.size} is not allowed: the training data has {n_train} rows; "
            f"expected an integer from 1 to {n_train} (or batch=full)"
        )
    parts = estimate_bytes(config, n_features, n_train, n_val, n_test)
    need = sum(parts.values())
    if available is None:
        available = available_bytes()
    if available is None or need <= available:
        return
    train = config.train
    if parts["history"] > need / 2:
        culprit = (
            f"train.epochs={train.epochs} with train.log_every={train.log_every} records "
            f"{-(-train.epochs // train.log_every):,} epochs of losses"
        )
        advice = "fewer epochs or a larger train.log_every"
    else:
        h, dtype = config.model.hidden_units, config.model.dtype
        culprit = (
            f"model.hidden_units={h} gives {dtype} arrays of shape ({h}, {n_features}) and "
            f"({h}, batch of up to {max(n_train, n_val, n_test)} rows)"
        )
        advice = ", ".join(
            ["a smaller model.hidden_units"]
            + (["model.dtype=float32"] if dtype == "float64" else [])
            + (["batch=mini"] if config.batch.name == "full" else [])
        )
    largest = max(parts, key=parts.__getitem__)
    raise ConfigError(
        f"{culprit}: the run needs ~{_gib(need)} GiB of memory (most for {largest}), "
        f"{_gib(available)} GiB available; expected a config that fits: {advice}"
    )
