"""network.py's training step as compiled loops (Numba): the same algorithm, in the same order.

Read it beside network.py. The names are the same, the parameters are the same arrays, updated in
place, of the net's dtype (float64 or float32):

    W1  (hidden, n_features)     b1  (hidden, 1)     W2  (1, hidden)     b2  (1, 1)

The data is sample-major here, so that one sample is one contiguous row:

    XT  (m, n_features)   X transposed         y  (m,)   the labels 0/1
    order (m,)            the epoch's sample order: rng.permutation(m), or 0..m-1 for full batch

One batch of b samples is order[start:start+b], as in batching.py. The per-batch scratch arrays
hold network.py's arrays transposed, one row per sample:

    Z1, A1 (b, hidden)    dZ2 (b,)            dW1 (hidden, n_features)   db1 (hidden,)   dW2 (hidden,)

For each batch, exactly as `TwoLayerNet._step_unchecked`:

    Z1 = W1·x + b1     A1 = ReLU(Z1)     Z2 = W2·A1 + b2
    S  = softplus(-Z2) = log1p(e^-|Z2|) - min(Z2, 0)      Yh = e^-S
    dZ2 = (Yh - y)·(lr/b)          (lr folded in, so every gradient comes out times lr)
    dW2 = Σ dZ2·A1    db2 = Σ dZ2    dZ1 = W2ᵀ·dZ2 · (Z1 > 0)    dW1 = Σ dZ1·xᵀ    db1 = Σ dZ1
    W1 -= dW1   b1 -= db1   W2 -= dW2   b2 -= db2     (every gradient taken before any update)

Only the order of the additions inside a sum differs from NumPy's (BLAS blocks its sums, these
loops add one term after another), so the numbers agree to rounding, not to the last bit. The
losses are not computed here: a forward pass over a whole set is a few large matrix products,
where NumPy's BLAS is faster, so the training loop asks the network (`_eval_loss`) for them.

Scalars come in the net's dtype (`scale`, `zero`), and every sum starts from `zero`, so float32
arithmetic stays float32 as it does in NumPy. The functions are compiled on first use and cached
on disk (`cache=True`): a machine compiles them once, later processes load them. The helpers are
inlined into `train_epoch` (a call passing a dozen arrays costs more than a sample's arithmetic).
Importing this module imports Numba; `training.compiled_kernels()` says why when it cannot.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numba
from numba import njit

# Numba caches beside the source by default, in src/dlnet/__pycache__, a folder the DVC `train`
# stage hashes: keep the cache in the user's cache folder instead, unless NUMBA_CACHE_DIR is set.
if not numba.config.CACHE_DIR:  # type: ignore[attr-defined]  # set from the environment at import
    numba.config.CACHE_DIR = str(  # type: ignore[attr-defined]
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlnet" / "numba")


@njit(cache=True, inline="always")
def _forward(W1, b1, W2, b2, XT, i, Z1, A1, t, zero):
    """Forward pass of the sample XT[i] into row t of Z1, A1; returns its Z2."""
    hidden, n_features = W1.shape
    Z2 = zero
    for j in range(hidden):
        z = zero
        for k in range(n_features):
            z += W1[j, k] * XT[i, k]
        z += b1[j, 0]
        a = z if not z <= zero else zero          # ReLU; NaN stays NaN, as in np.maximum
        Z1[t, j] = z
        A1[t, j] = a
        Z2 += W2[0, j] * a
    return Z2 + b2[0, 0]


@njit(cache=True, inline="always")
def _log1p_exp_neg_abs(Z2):
    """log(1 + e^-|Z2|), the part of softplus that never overflows."""
    return math.log1p(math.exp(-abs(Z2)))


@njit(cache=True, inline="always")
def _sigmoid(Z2, zero):
    """Yh = e^-S with S = softplus(-Z2) = log1p(e^-|Z2|) - min(Z2, 0), as network.py computes it."""
    return math.exp(-(_log1p_exp_neg_abs(Z2) - (Z2 if Z2 < zero else zero)))


@njit(cache=True, inline="always")
def _step(W1, b1, W2, b2, XT, y, order, start, b, scale, Z1, A1, dZ2, dW1, db1, dW2, zero):
    """One gradient-descent step on the batch of samples order[start:start+b]; scale = lr / b."""
    hidden, n_features = W1.shape
    # Forward, and dLoss/dZ2 times lr.
    for t in range(b):
        i = order[start + t]
        Z2 = _forward(W1, b1, W2, b2, XT, i, Z1, A1, t, zero)
        dZ2[t] = (_sigmoid(Z2, zero) - y[i]) * scale
    # Backward: every gradient before any update (dZ1 needs W2 as the forward pass used it).
    db2 = zero
    for t in range(b):
        db2 += dZ2[t]
    for j in range(hidden):
        dW2[j] = zero
        db1[j] = zero
        for k in range(n_features):
            dW1[j, k] = zero
    for t in range(b):
        i = order[start + t]
        for j in range(hidden):
            dW2[j] += dZ2[t] * A1[t, j]
            dZ1 = W2[0, j] * dZ2[t]
            dZ1 = dZ1 if Z1[t, j] > zero else dZ1 * zero   # times (Z1 > 0), as NumPy multiplies
            db1[j] += dZ1
            for k in range(n_features):
                dW1[j, k] += dZ1 * XT[i, k]
    # Update.
    for j in range(hidden):
        for k in range(n_features):
            W1[j, k] -= dW1[j, k]
        b1[j, 0] -= db1[j]
        W2[0, j] -= dW2[j]
    b2[0, 0] -= db2


@njit(cache=True, inline="always")
def _sample_step(W1, b1, W2, b2, XT, y, i, lr, Z1, A1, zero):
    """_step for a batch of the one sample XT[i] (stochastic). Each gradient sum has a single term
    here, so subtracting each term as it is computed gives the same numbers, without the sums."""
    hidden, n_features = W1.shape
    dZ2 = (_sigmoid(_forward(W1, b1, W2, b2, XT, i, Z1, A1, 0, zero), zero) - y[i]) * lr
    for j in range(hidden):
        dZ1 = W2[0, j] * dZ2
        dZ1 = dZ1 if Z1[0, j] > zero else dZ1 * zero
        W2[0, j] -= dZ2 * A1[0, j]
        b1[j, 0] -= dZ1
        for k in range(n_features):
            W1[j, k] -= dZ1 * XT[i, k]
    b2[0, 0] -= dZ2


@njit(cache=True)
def train_epoch(W1, b1, W2, b2, XT, y, order, batch_size, scale, last_scale, Z1, A1, dZ2, dW1, db1, dW2, zero):
    """One epoch: the batches order[0:batch_size], order[batch_size:2·batch_size], ... in turn.

    `scale` = lr / batch_size and `last_scale` = lr / (size of the last batch), in the net's dtype.
    Z1, A1 (batch_size, hidden) and dZ2 (batch_size,) are scratch, as are dW1, db1, dW2.
    """
    m = order.shape[0]
    if batch_size == 1:
        for t in range(m):
            _sample_step(W1, b1, W2, b2, XT, y, order[t], scale, Z1, A1, zero)
        return
    for start in range(0, m, batch_size):
        b = min(batch_size, m - start)
        _step(W1, b1, W2, b2, XT, y, order, start, b, scale if b == batch_size else last_scale,
              Z1, A1, dZ2, dW1, db1, dW2, zero)
