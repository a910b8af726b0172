"""network.py's training step as compiled loops (Numba): the same algorithm, in the same order.

Read it beside network.py. The names are the same, the parameters are the same arrays, updated in
place, of the net's dtype (float64 or float32):

    W1  (hidden, n_features)     b1  (hidden, 1)     W2  (1, hidden)     b2  (1, 1)

The data, as in network.py, and the epoch's order of the samples:

    X   (n_features, m)   y  (m,)   the labels 0/1
    order (m,)            0..m-1 between epochs, shuffled at an epoch's start into
                          rng.permutation(m), as batching.py draws it (none for the full batch);
                          unsigned: indexing with it needs no check for negative indices
    rng_state (6,)        the state of the run's random generator (see `shuffle`), advanced in place

Mini-batches (`batch_epoch`, also the full batch): the epoch first gathers its samples in shuffled
order, XP[:, p] = X[:, order[p]] and yP[p] = y[order[p]], so that batch after batch is a contiguous
slice XP[:, start:start+b], as batching.py cuts order. The loops run over a batch's samples
(contiguous, so they compile to vector instructions), in a scratch allocated once per run:

    Z1 (hidden, b)   dZ1 (2, b)   dZ2 (b,)   (Z2 is built in dZ2)

For each batch, as `TwoLayerNet._step_unchecked`:

    Z1 = W1·Xb + b1     A1 = ReLU(Z1)     Z2 = W2·A1 + b2     Yh = σ(Z2)
    dZ2 = (Yh - y)·(lr/b)          (lr folded in, so every gradient comes out times lr)
    dW2 = Σ dZ2·A1    db2 = Σ dZ2    dZ1 = W2ᵀ·dZ2 · (Z1 > 0)    dW1 = Σ dZ1·xᵀ    db1 = Σ dZ1
    W1 -= dW1   b1 -= db1   W2 -= dW2   b2 -= db2     (every gradient taken before its update)

The backward pass goes unit by unit: unit j's gradients need W2[0, j] as the forward pass used it
and no other unit's parameters, so its row of W1, b1[j] and W2[0, j] are updated as soon as they
are known, and no gradient array is kept. Forward and backward take the hidden units two at a
time (`_forward_pair`, `_backward_pair`; an odd last one alone): a batch is short, so each pass
over its samples costs about as much in setting up as in arithmetic, and a pair halves the passes.

Only the order of the additions inside a sum differs from NumPy's, as BLAS's own order differs
from a loop's: the mini-batch and loss kernels are compiled with fastmath "reassoc" only (see
SUMS_REORDERED), so that a sum over the batch's samples runs as a few vector partial sums, and
Z1 starts from b1. The numbers agree to rounding, not to the last bit (tests/test_compiled.py:
1e-12 relative over 20 epochs in float64). The stochastic epoch (`sample_epoch`, data sample-major
XT (m, n_features), one sample a row) has no sum to reorder: one term per gradient.

The loss on a whole set (`mean_loss`) is the network's formula, compiled too: after every epoch it
would otherwise cost a dozen NumPy calls. An epoch followed by the training loss is one call
(`batch_epoch_loss`, `sample_epoch_loss`). Both batch and loss kernels take e^-|Z2| from `_exp`,
within an ulp of math.exp, which compiles to vector instructions where math.exp is a call per
sample (the stochastic step, one sample at a time, keeps math.exp). In float32, e^-|Z2| is taken
in float64 and stored in the net's dtype.

Scalars come in the net's dtype (`scale`, `zero`, `one`), and every sum starts from `zero`, so float32
arithmetic stays float32 as it does in NumPy. The functions are compiled on first use and cached
on disk (`cache=True`): a machine compiles them once, later processes load them. The helpers are
inlined into the epoch kernels (a call passing a dozen arrays costs more than a sample's arithmetic).
Importing this module imports Numba; `training.compiled_kernels()` says why when it cannot.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Numba caches beside the source by default, in src/dlnet/__pycache__, a folder the DVC `train`
# stage hashes: keep the cache in the user's cache folder instead, unless NUMBA_CACHE_DIR is set.
if not numba.config.CACHE_DIR:  # type: ignore[attr-defined]  # set from the environment at import
    numba.config.CACHE_DIR = str(  # type: ignore[attr-defined]
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlnet" / "numba"
    )


# The mini-batch and loss kernels let LLVM reorder the additions inside a sum ("reassoc"): a sum
# over the batch's samples then runs as a few vector partial sums. Unlike "nnan", "ninf" or
# "afn", it assumes nothing of NaN or inf, which must behave as in NumPy (the divergence stop).
# Not "contract" either (a multiply and an add fused, rounded once): with lr = 40 a diverging
# mini-batch run amplifies that rounding past 1e-12 within its first epoch.
SUMS_REORDERED = {"reassoc"}


@njit(cache=True, inline="always")
def _relu(z, zero):
    """max(z, 0); NaN stays NaN, as in np.maximum."""
    return z if not z <= zero else zero


@njit(cache=True, inline="always")
def _sigmoid(Z2, e, zero, one):
    """Yh = σ(Z2), given e = e^-|Z2|. network.py takes Yh = e^-S from S = softplus(-Z2) =
    log1p(e^-|Z2|) - min(Z2, 0), as its loss needs S; that is 1 / (1 + e) for Z2 >= 0 and
    e / (1 + e) below: the same value to rounding, for one exponential instead of three
    transcendental calls."""
    return one / (one + e) if Z2 >= zero else e / (one + e)


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE 754 bits are the int64 `bits`."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = HI + LO, HI in 32 bits
EXP_TAYLOR = tuple(1 / math.factorial(k) for k in range(13, -1, -1))  # 1/13!, 1/12!, ..., 1/0!


@njit(cache=True, inline="always")
def _exp(x):
    """e^x for x <= 0 (here x = -|Z2|), within an ulp of math.exp (checked in tests/test_compiled.py).

    math.exp is a call into the C library per sample, which keeps a loop over the samples scalar:
    this is a few multiplications and additions, which compile to vector instructions. As the C
    library does: e^x = 2^n · e^r with n = round(x / ln 2) and |r| <= ln 2 / 2, r = x - n·ln 2 in two
    parts (exact, as n·HI is), e^r from its Taylor series to r^13/13! (the next term is below
    1e-17), and 2^n from its bits, in two factors so that each stays a normal number. Below -746,
    e^x rounds to 0; NaN stays NaN."""
    c = x if x > -746.0 else -746.0  # NaN too (its result is set at the end): keeps n finite
    n = math.floor(c * 1.4426950408889634 + 0.5)  # round(c / ln 2)
    r = c - n * LN2_HI - n * LN2_LO
    p = 0.0
    for a in EXP_TAYLOR:  # Horner: p = Σ r^k / k!, from k = 13 down
        p = p * r + a
    half = int(n) >> 1
    e = p * _float_from_bits((half + 1023) << 52) * _float_from_bits((int(n) - half + 1023) << 52)
    return e if x == x else x


# The shuffle, as NumPy's default generator draws it. rng.shuffle from Python costs more than a
# tenth of a mini-batch epoch; compiled into the epoch it costs two thirds of that. It draws the
# same numbers: `shuffle` is Generator.shuffle's loop with its random_interval and next_uint32, on
# PCG64's own step and output (`_pcg64_next`, as numpy/random/src/pcg64), from the generator's
# state as `pcg64_state` reads it. tests/test_compiled.py checks the orders and the state it
# leaves against rng.shuffle's, bit for bit.
PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
MULTIPLIER_HI, MULTIPLIER_LO = np.uint64(PCG64_MULTIPLIER >> 64), np.uint64(PCG64_MULTIPLIER & (2**64 - 1))
LOW_32 = np.uint64(2**32 - 1)


def pcg64_state(rng: np.random.Generator) -> np.ndarray:
    """rng's state as `shuffle` takes it (uint64[6]): the 128-bit state (high, low half), the
    128-bit increment (high, low), has_uint32 and uinteger (the second half of a 64-bit draw of
    which next_uint32 has used the first). ValueError unless rng is PCG64 (default_rng's)."""
    if type(rng.bit_generator) is not np.random.PCG64:
        raise ValueError(f"the compiled shuffle draws as PCG64; got {type(rng.bit_generator).__name__}")
    state = rng.bit_generator.state
    S, inc = state["state"]["state"], state["state"]["inc"]
    words = (S >> 64, S & (2**64 - 1), inc >> 64, inc & (2**64 - 1), state["has_uint32"], state["uinteger"])
    return np.array(words, dtype=np.uint64)


@intrinsic
def _mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of the uint64s a and b."""

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(product, ir.Constant(i128, 64)), ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


@njit(cache=True, inline="always")
def _pcg64_next(hi, lo, inc_hi, inc_lo):
    """One 64-bit draw: the 128-bit LCG's step, state = state·MULTIPLIER + inc (state = hi·2^64 + lo),
    and its output, the two halves XORed, rotated by the top 6 bits (PCG's XSL-RR).
    Returns the new hi, lo and the draw."""
    product_lo = lo * MULTIPLIER_LO
    product_hi = hi * MULTIPLIER_LO + lo * MULTIPLIER_HI + _mulhi(lo, MULTIPLIER_LO)
    lo = product_lo + inc_lo
    hi = product_hi + inc_hi + (np.uint64(1) if lo < product_lo else np.uint64(0))  # the carry
    x, rotation = hi ^ lo, hi >> np.uint64(58)
    return hi, lo, (x >> rotation) | (x << ((np.uint64(64) - rotation) & np.uint64(63)))


@njit(cache=True, inline="always")
def shuffle(order, rng_state):
    """rng.shuffle(order), drawing from rng_state (and advancing it) as NumPy draws from the
    generator: Fisher-Yates from the end, each j = random_interval(i), a uniform draw from 0..i,
    taken as the low bits of 32-bit draws (masked to i's bit length, for i < 2^32) until one is at
    most i. A 32-bit draw (next_uint32) is the second half of the last 64-bit draw if it is
    waiting, else the first half of a new one. The state is kept in local variables meanwhile: in
    the array, every swap in order would make the compiler read it again."""
    hi, lo, inc_hi, inc_lo = rng_state[0], rng_state[1], rng_state[2], rng_state[3]
    waiting, second_half = rng_state[4], rng_state[5]
    for i in range(order.shape[0] - 1, 0, -1):
        top = np.uint64(i)
        mask = top
        for shift in (1, 2, 4, 8, 16):
            mask |= mask >> np.uint64(shift)
        while True:
            if waiting:
                waiting, value = np.uint64(0), second_half
            else:
                hi, lo, draw = _pcg64_next(hi, lo, inc_hi, inc_lo)
                waiting, value, second_half = np.uint64(1), draw & LOW_32, draw >> np.uint64(32)
            value &= mask
            if value <= top:
                break
        order[i], order[value] = order[value], order[i]
    rng_state[0], rng_state[1], rng_state[4], rng_state[5] = hi, lo, waiting, second_half


@njit(cache=True, inline="always")
def _forward_unit(W1, b1, W2, j, X, start, stop, z1, Z2, zero):
    """Hidden unit j on the samples X[:, start:stop] (X is (features, m)): its row of Z1 into
    z1[:stop-start], and its term W2[0, j]·ReLU(z1) added to Z2[:stop-start].

    The loops run over the samples, contiguous in X, so they compile to vector instructions. Each
    pass loads and stores z1, and a batch is short, so a pass's own cost counts as much as its
    arithmetic: the features come four at a time, then one by one, and the first pass starts from
    b1 (9 features: 4 passes with ReLU's). Measured, not done: adding the last feature in ReLU's
    pass made the mini-batch epoch slower."""
    n_features = W1.shape[1]
    count = stop - start
    bias = b1[j, 0]
    quads = n_features // 4 * 4
    if quads == 0:
        for t in range(count):
            z1[t] = bias
    for k in range(0, quads, 4):
        w0, w1, w2, w3 = W1[j, k], W1[j, k + 1], W1[j, k + 2], W1[j, k + 3]
        x0, x1, x2, x3 = X[k, start:stop], X[k + 1, start:stop], X[k + 2, start:stop], X[k + 3, start:stop]
        if k == 0:
            for t in range(count):
                z1[t] = bias + w0 * x0[t] + w1 * x1[t] + w2 * x2[t] + w3 * x3[t]
        else:
            for t in range(count):
                z1[t] = z1[t] + w0 * x0[t] + w1 * x1[t] + w2 * x2[t] + w3 * x3[t]
    for k in range(quads, n_features):
        w, x = W1[j, k], X[k, start:stop]
        for t in range(count):
            z1[t] += w * x[t]
    w = W2[0, j]
    for t in range(count):
        Z2[t] += w * _relu(z1[t], zero)


@njit(cache=True, inline="always")
def _forward_pair(W1, b1, W2, j, X, start, stop, za, zb, Z2, zero):
    """`_forward_unit` for the hidden units j and j + 1 together, into za and zb: each pass over
    the samples loads their features once for both units, and there are half as many passes."""
    n_features = W1.shape[1]
    count = stop - start
    bias_a, bias_b = b1[j, 0], b1[j + 1, 0]
    quads = n_features // 4 * 4
    if quads == 0:
        for t in range(count):
            za[t] = bias_a
            zb[t] = bias_b
    for k in range(0, quads, 4):
        a0, a1, a2, a3 = W1[j, k], W1[j, k + 1], W1[j, k + 2], W1[j, k + 3]
        c0, c1, c2, c3 = W1[j + 1, k], W1[j + 1, k + 1], W1[j + 1, k + 2], W1[j + 1, k + 3]
        x0, x1, x2, x3 = X[k, start:stop], X[k + 1, start:stop], X[k + 2, start:stop], X[k + 3, start:stop]
        if k == 0:
            for t in range(count):
                za[t] = bias_a + a0 * x0[t] + a1 * x1[t] + a2 * x2[t] + a3 * x3[t]
                zb[t] = bias_b + c0 * x0[t] + c1 * x1[t] + c2 * x2[t] + c3 * x3[t]
        else:
            for t in range(count):
                za[t] = za[t] + a0 * x0[t] + a1 * x1[t] + a2 * x2[t] + a3 * x3[t]
                zb[t] = zb[t] + c0 * x0[t] + c1 * x1[t] + c2 * x2[t] + c3 * x3[t]
    for k in range(quads, n_features):
        a, c, x = W1[j, k], W1[j + 1, k], X[k, start:stop]
        for t in range(count):
            za[t] += a * x[t]
            zb[t] += c * x[t]
    wa, wb = W2[0, j], W2[0, j + 1]
    for t in range(count):
        Z2[t] = Z2[t] + wa * _relu(za[t], zero) + wb * _relu(zb[t], zero)


@njit(cache=True, inline="always")
def _backward_unit(W1, b1, W2, j, XP, start, stop, z1, dZ2, dZ1, zero):
    """Hidden unit j's gradients on the batch XP[:, start:stop], and its update: its row of W1,
    b1[j] and W2[0, j]. They need W2[0, j] as the forward pass used it and no other unit's
    parameters, so they are updated as soon as they are known. z1: its row of Z1; scratch dZ1."""
    n_features = W1.shape[1]
    b = stop - start
    w2, x0 = W2[0, j], XP[0, start:stop]
    dW2 = zero
    db1 = zero
    s0 = zero  # dW1[j, 0], summed in this pass too: one pass fewer below
    for t in range(b):
        dW2 += dZ2[t] * _relu(z1[t], zero)
        g = w2 * dZ2[t]
        d = g if z1[t] > zero else g * zero  # times (Z1 > 0), as NumPy multiplies
        dZ1[t] = d
        db1 += d
        s0 += d * x0[t]
    W1[j, 0] -= s0
    # dW1[j, k] = Σ dZ1·Xb[k] for the other features: eight per pass over dZ1 while eight are
    # left, then four, then one. Each sum ends in an addition across vector lanes, which costs
    # about as much as a pass over 32 samples: the more sums a pass carries, the fewer endings.
    k = 1
    while k + 8 <= n_features:
        x0, x1, x2, x3 = XP[k, start:stop], XP[k + 1, start:stop], XP[k + 2, start:stop], XP[k + 3, start:stop]
        x4, x5, x6, x7 = XP[k + 4, start:stop], XP[k + 5, start:stop], XP[k + 6, start:stop], XP[k + 7, start:stop]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
        for t in range(b):
            d = dZ1[t]
            s0 += d * x0[t]
            s1 += d * x1[t]
            s2 += d * x2[t]
            s3 += d * x3[t]
            s4 += d * x4[t]
            s5 += d * x5[t]
            s6 += d * x6[t]
            s7 += d * x7[t]
        W1[j, k] -= s0
        W1[j, k + 1] -= s1
        W1[j, k + 2] -= s2
        W1[j, k + 3] -= s3
        W1[j, k + 4] -= s4
        W1[j, k + 5] -= s5
        W1[j, k + 6] -= s6
        W1[j, k + 7] -= s7
        k += 8
    if k + 4 <= n_features:
        x0, x1, x2, x3 = XP[k, start:stop], XP[k + 1, start:stop], XP[k + 2, start:stop], XP[k + 3, start:stop]
        s0 = s1 = s2 = s3 = zero
        for t in range(b):
            d = dZ1[t]
            s0 += d * x0[t]
            s1 += d * x1[t]
            s2 += d * x2[t]
            s3 += d * x3[t]
        W1[j, k] -= s0
        W1[j, k + 1] -= s1
        W1[j, k + 2] -= s2
        W1[j, k + 3] -= s3
        k += 4
    while k < n_features:
        x0 = XP[k, start:stop]
        s0 = zero
        for t in range(b):
            s0 += dZ1[t] * x0[t]
        W1[j, k] -= s0
        k += 1
    b1[j, 0] -= db1
    W2[0, j] = w2 - dW2


@njit(cache=True, inline="always")
def _backward_pair(W1, b1, W2, j, XP, start, stop, za, zb, dZ2, da, db, zero):
    """`_backward_unit` for the hidden units j and j + 1 together (za, zb: their rows of Z1; scratch
    da, db: their dZ1): half as many passes over the samples, each loading its features once for
    both units."""
    n_features = W1.shape[1]
    b = stop - start
    wa, wb, x0 = W2[0, j], W2[0, j + 1], XP[0, start:stop]
    dW2a = dW2b = db1a = db1b = sa = sb = zero
    for t in range(b):
        g = dZ2[t]
        dW2a += g * _relu(za[t], zero)
        dW2b += g * _relu(zb[t], zero)
        ga, gb = wa * g, wb * g
        u = ga if za[t] > zero else ga * zero  # times (Z1 > 0), as NumPy multiplies
        v = gb if zb[t] > zero else gb * zero
        da[t] = u
        db[t] = v
        db1a += u
        db1b += v
        sa += u * x0[t]  # dW1[j, 0] and dW1[j + 1, 0], in this pass too
        sb += v * x0[t]
    W1[j, 0] -= sa
    W1[j + 1, 0] -= sb
    # The other features eight at a time while eight are left (sixteen sums per pass), then one.
    k = 1
    while k + 8 <= n_features:
        x0, x1, x2, x3 = XP[k, start:stop], XP[k + 1, start:stop], XP[k + 2, start:stop], XP[k + 3, start:stop]
        x4, x5, x6, x7 = XP[k + 4, start:stop], XP[k + 5, start:stop], XP[k + 6, start:stop], XP[k + 7, start:stop]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
        c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = zero
        for t in range(b):
            u, v = da[t], db[t]
            a0 += u * x0[t]
            a1 += u * x1[t]
            a2 += u * x2[t]
            a3 += u * x3[t]
            a4 += u * x4[t]
            a5 += u * x5[t]
            a6 += u * x6[t]
            a7 += u * x7[t]
            c0 += v * x0[t]
            c1 += v * x1[t]
            c2 += v * x2[t]
            c3 += v * x3[t]
            c4 += v * x4[t]
            c5 += v * x5[t]
            c6 += v * x6[t]
            c7 += v * x7[t]
        W1[j, k] -= a0
        W1[j, k + 1] -= a1
        W1[j, k + 2] -= a2
        W1[j, k + 3] -= a3
        W1[j, k + 4] -= a4
        W1[j, k + 5] -= a5
        W1[j, k + 6] -= a6
        W1[j, k + 7] -= a7
        W1[j + 1, k] -= c0
        W1[j + 1, k + 1] -= c1
        W1[j + 1, k + 2] -= c2
        W1[j + 1, k + 3] -= c3
        W1[j + 1, k + 4] -= c4
        W1[j + 1, k + 5] -= c5
        W1[j + 1, k + 6] -= c6
        W1[j + 1, k + 7] -= c7
        k += 8
    while k < n_features:
        x0 = XP[k, start:stop]
        sa = sb = zero
        for t in range(b):
            sa += da[t] * x0[t]
            sb += db[t] * x0[t]
        W1[j, k] -= sa
        W1[j + 1, k] -= sb
        k += 1
    b1[j, 0] -= db1a
    b1[j + 1, 0] -= db1b
    W2[0, j] = wa - dW2a
    W2[0, j + 1] = wb - dW2b


@njit(cache=True, inline="always")
def _step(W1, b1, W2, b2, XP, yP, start, b, scale, Z1, dZ1, dZ2, zero, one):
    """One gradient-descent step on the batch XP[:, start:start+b], labels yP[start:start+b];
    scale = lr / b."""
    hidden = W1.shape[0]
    stop = start + b
    # Forward: Z1 = W1·Xb + b1, A1 = ReLU(Z1) (recomputed from Z1 where needed), Z2 = W2·A1 + b2 (in dZ2).
    for t in range(b):
        dZ2[t] = zero
    for j in range(0, hidden - 1, 2):
        _forward_pair(W1, b1, W2, j, XP, start, stop, Z1[j], Z1[j + 1], dZ2, zero)
    if hidden % 2:
        _forward_unit(W1, b1, W2, hidden - 1, XP, start, stop, Z1[hidden - 1], dZ2, zero)
    # dLoss/dZ2 times lr, and db2. First Z2 and e = e^-|Z2| (in dZ1[0], free until the backward
    # pass) for the whole batch, in a loop of their own: it compiles to vector instructions.
    bias2, e = b2[0, 0], dZ1[0]
    for t in range(b):
        z = dZ2[t] + bias2
        dZ2[t] = z
        e[t] = _exp(-abs(z))
    db2 = zero
    for t in range(b):
        d = (_sigmoid(dZ2[t], e[t], zero, one) - yP[start + t]) * scale
        dZ2[t] = d
        db2 += d
    # Backward, two hidden units at a time (`_backward_pair`), every sum over the batch's samples.
    for j in range(0, hidden - 1, 2):
        _backward_pair(W1, b1, W2, j, XP, start, stop, Z1[j], Z1[j + 1], dZ2, dZ1[0], dZ1[1], zero)
    if hidden % 2:
        _backward_unit(W1, b1, W2, hidden - 1, XP, start, stop, Z1[hidden - 1], dZ2, dZ1[0], zero)
    b2[0, 0] -= db2


@njit(cache=True, fastmath=SUMS_REORDERED)
def batch_epoch(W1, b1, W2, b2, X, y, order, rng_state, XP, yP, batch_size, scale, last_scale, Z1, dZ1, dZ2, zero, one):
    """One epoch of mini-batches (or the full batch): order is shuffled, then order[0:batch_size],
    the next batch_size samples of order, ... in turn.

    The epoch's samples are first gathered in their shuffled order, XP[:, p] = X[:, order[p]] and
    yP[p] = y[order[p]], so that every batch is a contiguous slice of XP, and order is reset to
    0..m-1 for the next shuffle. For the full batch the order never changes: pass order = None
    and XP, yP = X, y.
    `scale` = lr / batch_size and `last_scale` = lr / (size of the last batch), in the net's dtype.
    Scratch, reused by every batch: Z1 (hidden, batch_size), dZ1 (2, batch_size), dZ2 (batch_size,).
    """
    m = y.shape[0]
    if order is not None:
        shuffle(order, rng_state)
        for k in range(X.shape[0]):
            x, xp = X[k], XP[k]
            for p in range(m):
                xp[p] = x[order[p]]
        for p in range(m):
            yP[p] = y[order[p]]
            order[p] = p  # 0..m-1 again, ready for the next epoch's shuffle
    for start in range(0, m, batch_size):
        b = min(batch_size, m - start)
        _step(W1, b1, W2, b2, XP, yP, start, b, scale if b == batch_size else last_scale, Z1, dZ1, dZ2, zero, one)


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
    Z2 += b2[0, 0]
    dZ2 = (_sigmoid(Z2, math.exp(-abs(Z2)), zero, one) - y[i]) * lr
    for j in range(hidden):
        dZ1 = W2[0, j] * dZ2
        dZ1 = dZ1 if Z1[j, 0] > zero else dZ1 * zero
        W2[0, j] -= dZ2 * _relu(Z1[j, 0], zero)
        b1[j, 0] -= dZ1
        for k in range(n_features):
            W1[j, k] -= dZ1 * XT[i, k]
    b2[0, 0] -= dZ2


@njit(cache=True)
def sample_epoch(W1, b1, W2, b2, XT, y, order, rng_state, lr, Z1, zero, one):
    """One epoch of stochastic steps, one sample at a time in the shuffled order, which is then reset
    to 0..m-1; scratch Z1 (hidden, 1). No sum is reordered here: each gradient has a single term."""
    shuffle(order, rng_state)
    for t in range(order.shape[0]):
        _sample_step(W1, b1, W2, b2, XT, y, order[t], lr, Z1, zero, one)
        order[t] = t  # 0..m-1 again, ready for the next epoch's shuffle


# A log1p(e) per sample costs more than the sample's forward pass: the loss takes one log per
# chunk of samples instead, of the product of their (1 + e), each factor in (1, 2]. CHUNK keeps
# that product below 2^CHUNK, far from overflow.
CHUNK = 512


@njit(cache=True, fastmath=SUMS_REORDERED)
def mean_loss(W1, b1, W2, b2, X, y, Z1, Z2, zero):
    """The mean cross-entropy on X (features, m) with labels y (m,), as network.py's `_mean_bce`:
    per sample log1p(e) + (max(Z2, 0) - y·Z2) with e = e^-|Z2|, every term >= 0. Scratch Z1 (2, >= m),
    Z2 (>= m,).

    The forward pass runs two hidden units at a time over all the samples (`_forward_pair`). The
    sum runs in float64 whatever the net's dtype. Σ log1p(e) is taken as log1p(q) with
    1 + q = Π(1 + e), q updated as q + e·(1 + q): q keeps every digit of a small sum, as log1p does.
    """
    m = X.shape[1]
    for i in range(m):
        Z2[i] = zero
    hidden = W1.shape[0]
    for j in range(0, hidden - 1, 2):
        _forward_pair(W1, b1, W2, j, X, 0, m, Z1[0], Z1[1], Z2, zero)
    if hidden % 2:
        _forward_unit(W1, b1, W2, hidden - 1, X, 0, m, Z1[0], Z2, zero)
    # Per sample, e = e^-|Z2| (in Z1[0], free now) and the rest of the term, in a loop that compiles
    # to vector instructions; then Σ log1p(e), chunk by chunk.
    bias2, e = b2[0, 0], Z1[0]
    total = 0.0
    for i in range(m):
        z = Z2[i] + bias2
        total += _relu(z, zero) - y[i] * z
        e[i] = _exp(-abs(z))
    for start in range(0, m, CHUNK):
        stop = min(start + CHUNK, m)
        # Four products at once (each step waits for the previous one of its own chain only),
        # then joined as (1 + q01) = (1 + q0)(1 + q1): q01 = q0 + q1 + q0·q1.
        q0 = q1 = q2 = q3 = 0.0
        for i in range(start, stop - 3, 4):
            q0 += e[i] * (1.0 + q0)
            q1 += e[i + 1] * (1.0 + q1)
            q2 += e[i + 2] * (1.0 + q2)
            q3 += e[i + 3] * (1.0 + q3)
        for i in range(start + (stop - start) // 4 * 4, stop):
            q0 += e[i] * (1.0 + q0)
        q01, q23 = q0 + q1 + q0 * q1, q2 + q3 + q2 * q3
        total += math.log1p(q01 + q23 + q01 * q23)
    return total / m


# An epoch and then the loss on the training set, as train() asks for it at every recorded epoch
# (and every full-batch epoch): one call from Python instead of two. X, y are the training set
# (the epoch kernels' X or XT, y), Z1_loss and Z2_loss mean_loss's scratch.


@njit(cache=True)
def batch_epoch_loss(
    W1, b1, W2, b2, X, y, order, rng_state, XP, yP, batch_size, scale, last_scale, Z1, dZ1, dZ2, zero, one,
    Z1_loss, Z2_loss,
):  # fmt: skip
    """batch_epoch, then mean_loss on X, y."""
    batch_epoch(W1, b1, W2, b2, X, y, order, rng_state, XP, yP, batch_size, scale, last_scale, Z1, dZ1, dZ2, zero, one)
    return mean_loss(W1, b1, W2, b2, X, y, Z1_loss, Z2_loss, zero)


@njit(cache=True)
def sample_epoch_loss(W1, b1, W2, b2, XT, y, order, rng_state, lr, Z1, zero, one, X, Z1_loss, Z2_loss):
    """sample_epoch, then mean_loss on X (XT's transpose), y."""
    sample_epoch(W1, b1, W2, b2, XT, y, order, rng_state, lr, Z1, zero, one)
    return mean_loss(W1, b1, W2, b2, X, y, Z1_loss, Z2_loss, zero)
