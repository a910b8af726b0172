"""network.py's training step as compiled loops (Numba): the same algorithm, in the same order.

Read it beside network.py. The names are the same, the parameters are the same arrays, updated in
place, of the net's dtype (float64 or float32):

    W1  (hidden, n_features)     b1  (hidden, 1)     W2  (1, hidden)     b2  (1, 1)

The data is sample-major here, so that one sample is one contiguous row:

    XT  (m, n_features)   X transposed         y  (m,)   the labels 0/1
    order (m,)            the epoch's sample order: rng.permutation(m), or 0..m-1 for full batch

One batch of b samples is order[start:start+b], as in batching.py, gathered into scratch arrays
allocated once per run and reused by every batch. They hold network.py's arrays for the batch,
samples as columns, so that the inner loops run over the batch's samples (vector instructions):

    Xb (n_features, b)   XbT (b, n_features)   Z1, dZ1 (hidden, b)   dZ2 (b,)
    dW1 (hidden, n_features)   db1 (hidden,)   dW2 (hidden,)

For each batch, exactly as `TwoLayerNet._step_unchecked`:

    Z1 = W1·Xb + b1     A1 = ReLU(Z1)     Z2 = W2·A1 + b2     Yh = σ(Z2)
    dZ2 = (Yh - y)·(lr/b)          (lr folded in, so every gradient comes out times lr)
    dW2 = Σ dZ2·A1    db2 = Σ dZ2    dZ1 = W2ᵀ·dZ2 · (Z1 > 0)    dW1 = Σ dZ1·xᵀ    db1 = Σ dZ1
    W1 -= dW1   b1 -= db1   W2 -= dW2   b2 -= db2     (every gradient taken before any update)

Only the order of the additions inside a sum differs from NumPy's (BLAS blocks its sums, these
loops add one term after another), so the numbers agree to rounding, not to the last bit. The
loss on a whole set (`mean_loss`) is the network's formula, compiled too: after every epoch it
would otherwise cost a dozen NumPy calls.

Scalars come in the net's dtype (`scale`, `zero`, `one`), and every sum starts from `zero`, so float32
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
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlnet" / "numba"
    )


@njit(cache=True, inline="always")
def _relu(z, zero):
    """max(z, 0); NaN stays NaN, as in np.maximum."""
    return z if not z <= zero else zero


@njit(cache=True, inline="always")
def _sigmoid(Z2, zero, one):
    """Yh = σ(Z2). network.py takes Yh = e^-S from S = softplus(-Z2) = log1p(e^-|Z2|) - min(Z2, 0),
    as its loss needs S; with e = e^-|Z2| that is 1 / (1 + e) for Z2 >= 0 and e / (1 + e) below:
    the same value to rounding, for one exponential instead of three transcendental calls."""
    e = math.exp(-abs(Z2))
    return one / (one + e) if Z2 >= zero else e / (one + e)


@njit(cache=True, inline="always")
def _forward_unit(W1, b1, W2, j, X, count, z1, Z2, zero):
    """Hidden unit j on the first `count` columns of X (features, ...): its row of Z1 into z1, and
    its term W2[0, j]·ReLU(z1) added to Z2. The inner loops run over the samples, contiguous in X,
    so they compile to vector instructions; each sum adds its terms in order (over k, then j)."""
    for t in range(count):
        z1[t] = zero
    for k in range(W1.shape[1]):
        w, x = W1[j, k], X[k]
        for t in range(count):
            z1[t] += w * x[t]
    for t in range(count):
        z1[t] += b1[j, 0]
        Z2[t] += W2[0, j] * _relu(z1[t], zero)


@njit(cache=True, inline="always")
def _step(W1, b1, W2, b2, XT, y, order, start, b, scale, Xb, XbT, Z1, dZ1, dZ2, dW1, db1, dW2, zero, one):
    """One gradient-descent step on the batch of samples order[start:start+b]; scale = lr / b."""
    hidden, n_features = W1.shape
    # The batch, gathered through the shuffled order.
    for t in range(b):
        i = order[start + t]
        for k in range(n_features):
            Xb[k, t] = XbT[t, k] = XT[i, k]
    # Forward: Z1 = W1·Xb + b1, A1 = ReLU(Z1) (recomputed from Z1 where needed), Z2 = W2·A1 + b2 (in dZ2).
    for t in range(b):
        dZ2[t] = zero
    for j in range(hidden):
        _forward_unit(W1, b1, W2, j, Xb, b, Z1[j], dZ2, zero)
    # dLoss/dZ2 times lr, and db2.
    db2 = zero
    for t in range(b):
        dZ2[t] = (_sigmoid(dZ2[t] + b2[0, 0], zero, one) - y[order[start + t]]) * scale
        db2 += dZ2[t]
    # Backward: every gradient before any update (dZ1 needs W2 as the forward pass used it).
    for j in range(hidden):
        dW2[j] = zero
        db1[j] = zero
        for k in range(n_features):
            dW1[j, k] = zero
    for t in range(b):
        for j in range(hidden):
            dW2[j] += dZ2[t] * _relu(Z1[j, t], zero)
            g = W2[0, j] * dZ2[t]
            dZ1[j, t] = g if Z1[j, t] > zero else g * zero  # times (Z1 > 0), as NumPy multiplies
            db1[j] += dZ1[j, t]
        for j in range(hidden):
            for k in range(n_features):
                dW1[j, k] += dZ1[j, t] * XbT[t, k]
    # Update.
    for j in range(hidden):
        for k in range(n_features):
            W1[j, k] -= dW1[j, k]
        b1[j, 0] -= db1[j]
        W2[0, j] -= dW2[j]
    b2[0, 0] -= db2


@njit(cache=True, inline="always")
def _sample_step(W1, b1, W2, b2, XT, y, i, lr, Z1, zero, one):
    """_step for a batch of the one sample XT[i] (stochastic), with Z1 (hidden, 1). Each gradient
    sum has a single term here, so subtracting each term as it is computed gives the same numbers,
    without the sums."""
    hidden, n_features = W1.shape
    Z2 = zero
    for j in range(hidden):
        z = zero
        for k in range(n_features):
            z += W1[j, k] * XT[i, k]
        Z1[j, 0] = z = z + b1[j, 0]
        Z2 += W2[0, j] * _relu(z, zero)
    dZ2 = (_sigmoid(Z2 + b2[0, 0], zero, one) - y[i]) * lr
    for j in range(hidden):
        dZ1 = W2[0, j] * dZ2
        dZ1 = dZ1 if Z1[j, 0] > zero else dZ1 * zero
        W2[0, j] -= dZ2 * _relu(Z1[j, 0], zero)
        b1[j, 0] -= dZ1
        for k in range(n_features):
            W1[j, k] -= dZ1 * XT[i, k]
    b2[0, 0] -= dZ2


@njit(cache=True)
def train_epoch(
    W1, b1, W2, b2, XT, y, order, batch_size, scale, last_scale, Xb, XbT, Z1, dZ1, dZ2, dW1, db1, dW2, zero, one
):
    """One epoch: the batches order[0:batch_size], order[batch_size:2·batch_size], ... in turn.

    `scale` = lr / batch_size and `last_scale` = lr / (size of the last batch), in the net's dtype.
    Scratch, reused by every batch: Xb (features, batch_size), XbT (batch_size, features), Z1 and
    dZ1 (hidden, batch_size), dZ2 (batch_size,), dW1 (hidden, features), db1 and dW2 (hidden,).
    """
    m = order.shape[0]
    if batch_size == 1:
        for t in range(m):
            _sample_step(W1, b1, W2, b2, XT, y, order[t], scale, Z1, zero, one)
        return
    for start in range(0, m, batch_size):
        b = min(batch_size, m - start)
        _step(
            W1,
            b1,
            W2,
            b2,
            XT,
            y,
            order,
            start,
            b,
            scale if b == batch_size else last_scale,
            Xb,
            XbT,
            Z1,
            dZ1,
            dZ2,
            dW1,
            db1,
            dW2,
            zero,
            one,
        )


@njit(cache=True)
def mean_loss(W1, b1, W2, b2, X, y, Z1, Z2, zero):
    """The mean cross-entropy on X (features, m) with labels y (m,), as network.py's `_mean_bce`:
    per sample log1p(e^-|Z2|) + (max(Z2, 0) - y·Z2), every term >= 0. Scratch Z1 (m,), Z2 (m,).

    The forward pass runs one hidden unit at a time over all the samples (`_forward_unit`). The
    sum runs in float64 whatever the net's dtype.
    """
    m = X.shape[1]
    for i in range(m):
        Z2[i] = zero
    for j in range(W1.shape[0]):
        _forward_unit(W1, b1, W2, j, X, m, Z1, Z2, zero)
    total = 0.0
    for i in range(m):
        z = Z2[i] + b2[0, 0]
        total += math.log1p(math.exp(-abs(z))) + (_relu(z, zero) - y[i] * z)
    return total / m
