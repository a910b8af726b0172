"""The three batch strategies as one idea: each epoch is a sequence of batches of samples.

  - "full":       one batch holding every sample, in the original order (plain gradient descent);
  - "mini":       the samples shuffled, then cut into consecutive batches of `batch_size`;
  - "stochastic": the samples shuffled, one sample per batch.

Every sample is in exactly one batch per epoch; the last mini-batch may be smaller. Shuffled
strategies draw one `rng.permutation(n_samples)` per epoch and nothing else, so the order depends
only on the rng's seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral

import numpy as np

STRATEGIES = ("full", "mini", "stochastic")


def resolve_batch_size(strategy: str, batch_size: int | None, n_samples: int) -> int:
    """The number of samples per batch: n_samples for "full", 1 for "stochastic", `batch_size` for "mini".

    `batch_size` is ignored (and may be None) for "full" and "stochastic". Raises ValueError for an
    unknown strategy, or a mini-batch size that is not an integer in [1, n_samples].
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}")
    if strategy == "full":
        return int(n_samples)
    if strategy == "stochastic":
        return 1
    if batch_size is None:
        raise ValueError("batch_size (batch.size) must be given for the 'mini' strategy")
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral):
        raise ValueError(f"batch_size (batch.size) must be an integer; got {batch_size!r}")
    if not 1 <= batch_size <= n_samples:
        raise ValueError(
            f"batch_size (batch.size) must be between 1 and the number of training samples "
            f"({n_samples}); got {batch_size}"
        )
    return int(batch_size)


def epoch_batches(
    n_samples: int, strategy: str, batch_size: int | None, rng: np.random.Generator
) -> Iterator[slice | np.ndarray]:
    """Index batches over the sample axis for ONE epoch.

    "full" yields a single `slice(None)` (all samples, no copy, no shuffle, no rng draw).
    "mini" and "stochastic" yield consecutive chunks of `rng.permutation(n_samples)`, each a 1-D
    int array of at most `batch_size` indices (1 for stochastic).
    """
    # Not a generator function, so that bad settings raise here rather than at the first batch.
    size = resolve_batch_size(strategy, batch_size, n_samples)
    if strategy == "full":
        return iter((slice(None),))
    order = rng.permutation(n_samples)
    return (order[start : start + size] for start in range(0, n_samples, size))


class Batches:
    """The (Xb, Yb) batches of X (features, m) and Y (1, m), one epoch at a time.

    Same batches, in the same order, as `epoch_batches` given the same rng. Rather than copying
    each batch by fancy indexing, each epoch gathers all samples once in shuffled order, sample by
    row, into a reused buffer; each batch is then a view of consecutive rows, transposed back to
    (features, batch). That is faster, most of all for stochastic batches of one sample.
    The views stay valid only until the next epoch starts.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, strategy: str, batch_size: int | None, rng: np.random.Generator):
        self.X, self.Y = X, Y
        self.strategy = strategy
        self.n_samples = X.shape[1]
        self.size = resolve_batch_size(strategy, batch_size, self.n_samples)
        self.rng = rng
        if strategy != "full":
            # Sample-major copies (m, features) and (m, 1), and their shuffled buffers.
            self._XT = np.ascontiguousarray(X.T)
            self._YT = np.ascontiguousarray(Y.T)
            self._XT_shuffled = np.empty_like(self._XT)
            self._YT_shuffled = np.empty_like(self._YT)

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (Xb, Yb) of shapes (features, b) and (1, b) for one epoch."""
        if self.strategy == "full":
            yield self.X, self.Y
            return
        order = self.rng.permutation(self.n_samples)
        XT = np.take(self._XT, order, axis=0, out=self._XT_shuffled)
        YT = np.take(self._YT, order, axis=0, out=self._YT_shuffled)
        size = self.size
        for start in range(0, self.n_samples, size):
            yield XT[start : start + size].T, YT[start : start + size].T
