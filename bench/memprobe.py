"""Peak memory of one training run, in a process of its own: `python -m bench.memprobe ROWS HIDDEN EPOCHS NAME`.

Prints one JSON line: the resident memory before training (data built, libraries imported) and the
process's peak resident memory (VmHWM) after training, in bytes. A fresh process per
measurement, because a peak cannot be reset.
"""

from __future__ import annotations

import json
import sys


def _status(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def current_rss() -> int:
    return _status("VmRSS")


def peak_rss() -> int:
    """The high-water mark of this process's own memory (VmHWM). Not `ru_maxrss`: after a fork and
    exec that one starts from the parent's peak, which here is the benchmark's whole process."""
    return _status("VmHWM")


def main(argv: list[str]) -> int:
    rows, hidden, epochs, name = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    from threadpoolctl import threadpool_limits

    from bench import datasets, peers

    data = datasets.synthetic(rows)
    task = peers.Task(
        data.X,
        data.Y,
        peers.initial_params(data.X.shape[0], hidden),
        lr=0.07,
        epochs=epochs,
        strategy="full",
        batch_size=rows,
    )
    fit = peers.PREPARE[name](task)
    before = current_rss()
    with threadpool_limits(limits=1):
        fit()
    peak = peak_rss()
    print(json.dumps({"rss_before": before, "peak_rss": peak, "data_bytes": data.X.nbytes + data.Y.nbytes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
