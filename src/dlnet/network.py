"""The two-layer network of "a neural network from scratch", in plain NumPy.

Samples are columns, as in the article:

    X   (n_features, m)          Y   (1, m), labels 0/1 (1 = malignant)
    W1  (hidden, n_features)     b1  (hidden, 1)
    W2  (1, hidden)              b2  (1, 1)

    Z1 = W1·X + b1     A1 = ReLU(Z1)     Z2 = W2·A1 + b2     Yh = sigmoid(Z2)

The loss is the binary cross-entropy. The article computes it from Yh,
-(Y·log Yh + (1-Y)·log(1-Yh))/m, which turns NaN once the sigmoid saturates to exactly 0 or 1.
Here it is computed from the logits Z2, which stays finite, and whose derivative is simply
dLoss/dZ2 = (Yh - Y)/m, with no division by Yh.

The public methods check their inputs. The training loop checks its inputs once and then calls the
underscore methods (`_train_forward`, `_train_backward_update`, `_step_unchecked`, `_eval_loss`),
which skip the checks and reuse preallocated arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Literal, overload

import numpy as np

INITS = ("article", "he", "xavier")
PARAM_NAMES = ("W1", "b1", "W2", "b2")
GRAD_NAMES = ("dW1", "db1", "dW2", "db2")

# Enough for a training run (batch, last smaller batch, whole set, validation set).
_MAX_CACHED_BATCH_SIZES = 8


# ----------------------------------------------------------------------------------------------
# Elementwise functions
# ----------------------------------------------------------------------------------------------


def relu(Z: np.ndarray) -> np.ndarray:
    """ReLU, max(Z, 0), elementwise. Any shape in, same shape out."""
    return np.maximum(Z, 0)


def _log1p_exp_neg_abs_into(Z: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Write L = log(1 + e^-|Z|), the part of softplus that never overflows, and return L."""
    np.abs(Z, out=L)
    np.negative(L, out=L)
    np.exp(L, out=L)
    np.log1p(L, out=L)
    return L


def _softplus_neg_into(Z: np.ndarray, S: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """Write S = softplus(-Z) = log(1 + e^-Z) = -log sigmoid(Z), and return S.

    Computed as log1p(e^-|Z|) - min(Z, 0), so e^x never overflows. Z, S and tmp share one shape;
    S and tmp are overwritten.
    """
    _log1p_exp_neg_abs_into(Z, S)
    np.minimum(Z, 0, out=tmp)
    np.subtract(S, tmp, out=S)
    return S


def _softplus_neg(Z: np.ndarray) -> np.ndarray:
    """softplus(-Z) = -log sigmoid(Z), elementwise, in a new array of Z's shape."""
    Z = np.asarray(Z)
    if Z.dtype.kind != "f":
        Z = Z.astype(np.float64)
    return _softplus_neg_into(Z, np.empty_like(Z), np.empty_like(Z))


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """Sigmoid 1 / (1 + e^-Z), elementwise; any shape in, same shape out.

    Computed as exp(-softplus(-Z)), which never overflows nor warns, even at Z = ±1000.
    Training uses the same formula, so Yh is the same in every method.
    """
    return np.exp(-_softplus_neg(Z))


def _mean_bce(L: np.ndarray, Z2: np.ndarray, Y: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> float:
    """Mean binary cross-entropy from L = log1p(e^-|Z2|), Z2 and Y, all of one shape (1, m).

    Per sample -log Yh = L - min(Z2, 0) and -log(1 - Yh) = L + max(Z2, 0), so the loss of a sample
    is L + (max(Z2, 0) - Y·Z2). Y·Z2 is exactly Z2 or 0, so the bracket is exact, and every term
    is >= 0: the sum cancels nothing, and a small loss keeps all its digits (three separate sums,
    ΣS + ΣZ2 - ΣY·Z2, would cancel large logits against each other). `out` and `tmp` are scratch.
    """
    np.multiply(Y, Z2, out=tmp)
    np.maximum(Z2, 0, out=out)
    out -= tmp
    out += L
    return float(out.sum() / Z2.size)


def bce_with_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels Y given logits Z2, both of shape (1, m) (or any one shape).

    Equal to the article's loss where that is finite, and finite for every finite Z2.
    """
    Z2 = np.asarray(Z2, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Z2.shape != Y.shape:
        raise ValueError(f"Z2 and Y must have the same shape; got Z2 {Z2.shape} and Y {Y.shape}")
    if Z2.size == 0:
        raise ValueError("Z2 must hold at least one sample; got an empty array")
    return _mean_bce(_log1p_exp_neg_abs_into(Z2, np.empty_like(Z2)), Z2, Y, np.empty_like(Z2), np.empty_like(Z2))


def article_loss(Yh: np.ndarray, Y: np.ndarray) -> float:
    """The article's loss -(Y·log Yh + (1-Y)·log(1-Yh))/m, for Yh and Y of shape (1, m).

    Kept for comparison only: it is inf or NaN once some Yh is exactly 0 or 1.
    """
    Yh = np.asarray(Yh, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Yh.shape != Y.shape:
        raise ValueError(f"Yh and Y must have the same shape; got Yh {Yh.shape} and Y {Y.shape}")
    m = Y.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-(np.vdot(Y, np.log(Yh)) + np.vdot(1 - Y, np.log(1 - Yh))) / m)


# ----------------------------------------------------------------------------------------------
# Input checks, shared with the training loop
# ----------------------------------------------------------------------------------------------


def check_count(value, name: str, minimum: int = 1) -> int:
    """Return value as an int, or raise ValueError naming `name` if it is not an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_lr(lr) -> float:
    """Return the learning rate as a float, or raise ValueError unless it is finite and > 0."""
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    return float(lr)


def _check_dtype(dtype) -> np.dtype:
    """Return dtype as a NumPy floating dtype, or raise ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be a floating dtype such as float64 or float32; got {dtype!r}") from err
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating dtype such as float64 or float32; got {dt}")
    return dt


def check_X(X, n_features: int, dtype=np.float64, name: str = "X") -> np.ndarray:
    """Return X as a C-ordered (n_features, m) array of `dtype`, copying only when needed.

    Raises ValueError naming `name` when X is not 2-D, has no samples, has the wrong number of
    rows (features), or holds NaN or inf.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (features, samples); got shape {X.shape}")
    if X.shape[0] != n_features:
        raise ValueError(
            f"{name} has {X.shape[0]} features (rows) but the network expects n_features={n_features}; "
            f"{name} must have shape (features, samples)"
        )
    if X.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one sample (column); got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return X


def check_Y(Y, n_samples: int, dtype=np.float64, name: str = "Y", x_name: str = "X") -> np.ndarray:
    """Return Y as a C-ordered (1, n_samples) array of `dtype` holding only 0 and 1.

    Raises ValueError naming `name` when Y is not of shape (1, m), when m differs from the number
    of samples in `x_name`, or when a label is not 0 or 1.
    """
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != 1:
        raise ValueError(f"{name} must have shape (1, samples); got shape {Y.shape}")
    if Y.shape[1] != n_samples:
        raise ValueError(
            f"{name} has {Y.shape[1]} samples but {x_name} has {n_samples}; they must have the same number of columns"
        )
    if Y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric 0/1 labels; got dtype {Y.dtype}")
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if not ((Y == 0) | (Y == 1)).all():
        bad = np.unique(Y[(Y != 0) & (Y != 1)])[:5]
        raise ValueError(f"{name} must hold only 0/1 labels (1 = malignant); found {bad.tolist()}")
    return Y


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


def param_shapes(n_features: int, hidden_units: int) -> dict[str, tuple[int, int]]:
    """The shape of each parameter: W1 (hidden, features), b1 (hidden, 1), W2 (1, hidden), b2 (1, 1)."""
    return {
        "W1": (hidden_units, n_features),
        "b1": (hidden_units, 1),
        "W2": (1, hidden_units),
        "b2": (1, 1),
    }


def _as_rng(rng):
    """A random generator from a Generator, an int seed or None; a legacy RandomState is kept."""
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if rng is None or (isinstance(rng, Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy.random.Generator, an int seed or None; got {rng!r}")


def init_params(
    n_features: int,
    hidden_units: int,
    init: str = "article",
    rng=None,
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """Random initial parameters, keys W1 (hidden, features), b1 (hidden, 1), W2 (1, hidden), b2 (1, 1).

    Weights are standard normal draws, W1 first then W2, scaled by the rule `init`:
      - "article": 1 / sqrt(fan_in), as in the article;
      - "he":      sqrt(2 / fan_in), suited to ReLU;
      - "xavier":  sqrt(2 / (fan_in + fan_out)), Glorot's normal rule.
    Biases start at zero. `rng` is a numpy Generator, an int seed or None. A legacy
    `np.random.RandomState(1)` is accepted too: it draws exactly the article's weights.
    Draws are made in float64 and then cast, so float32 weights are the rounded float64 ones.
    """
    n_features = check_count(n_features, "n_features")
    hidden_units = check_count(hidden_units, "hidden_units")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    dtype = _check_dtype(dtype)
    rng = _as_rng(rng)

    def divisor(fan_in: int, fan_out: int) -> float:
        # Divide, as the article does, so that "article" reproduces its weights bit for bit.
        if init == "article":
            return math.sqrt(fan_in)
        if init == "he":
            return math.sqrt(fan_in / 2)
        return math.sqrt((fan_in + fan_out) / 2)

    W1 = rng.standard_normal((hidden_units, n_features)) / divisor(n_features, hidden_units)
    W2 = rng.standard_normal((1, hidden_units)) / divisor(hidden_units, 1)
    return {
        "W1": W1.astype(dtype),
        "b1": np.zeros((hidden_units, 1), dtype=dtype),
        "W2": W2.astype(dtype),
        "b2": np.zeros((1, 1), dtype=dtype),
    }


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


class _Buffers:
    """Preallocated arrays for one batch size m, so that a training step allocates nothing big.

    Forward: Z1, A1 (hidden, m); Z2, S = softplus(-Z2), Yh, tmp (1, m).
    Backward: dZ2 (1, m), dZ1 (hidden, m), dW1 (hidden, features), db1 (hidden, 1), dW2 (1, hidden),
    and a column of ones (m, 1) that turns the bias sums into matrix products.
    """

    __slots__ = ("Z1", "A1", "Z2", "S", "Yh", "tmp", "dZ2", "dZ1", "dW1", "db1", "dW2", "ones")

    def __init__(self, n_features: int, hidden_units: int, m: int, dtype: np.dtype):
        self.Z1 = np.empty((hidden_units, m), dtype)
        self.A1 = np.empty((hidden_units, m), dtype)
        self.Z2 = np.empty((1, m), dtype)
        self.S = np.empty((1, m), dtype)
        self.Yh = np.empty((1, m), dtype)
        self.tmp = np.empty((1, m), dtype)
        self.dZ2 = np.empty((1, m), dtype)
        self.dZ1 = np.empty((hidden_units, m), dtype)
        self.dW1 = np.empty((hidden_units, n_features), dtype)
        self.db1 = np.empty((hidden_units, 1), dtype)
        self.dW2 = np.empty((1, hidden_units), dtype)
        self.ones = np.ones((m, 1), dtype)


class TwoLayerNet:
    """Two-layer network: features -> `hidden_units` ReLU units -> one sigmoid output.

    Parameters live in the attributes W1 (hidden, features), b1 (hidden, 1), W2 (1, hidden) and
    b2 (1, 1), all of the net's `dtype`. Pass `params` (a mapping with those four keys) to start
    from given values (they are copied); otherwise they are drawn by `init_params(init, rng)`.
    """

    def __init__(
        self,
        n_features: int,
        hidden_units: int,
        *,
        init: str = "article",
        rng=None,
        params: Mapping[str, np.ndarray] | None = None,
        dtype=np.float64,
    ):
        self.n_features = check_count(n_features, "n_features")
        self.hidden_units = check_count(hidden_units, "hidden_units")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
        self.dtype = _check_dtype(dtype)
        self.init = init
        if params is None:
            params = init_params(self.n_features, self.hidden_units, init, rng, self.dtype)
        params = self._check_params(params)
        self.W1, self.b1, self.W2, self.b2 = (params[k] for k in PARAM_NAMES)
        # Preallocated arrays by batch size: one set for the training step, one for evaluation,
        # so that evaluating a same-sized set between forward and backward cannot clobber the step.
        self._train_buffers: dict[int, _Buffers] = {}
        self._eval_buffers: dict[int, _Buffers] = {}

    def __repr__(self) -> str:
        return (
            f"TwoLayerNet(n_features={self.n_features}, hidden_units={self.hidden_units}, "
            f"init={self.init!r}, dtype={self.dtype})"
        )

    # -- parameters ------------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The parameters W1, b1, W2, b2 by name: the live arrays, not copies."""
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def _check_params(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy `params` to C-ordered arrays of the net's dtype, checking keys, shapes and finiteness."""
        if not isinstance(params, Mapping):
            raise ValueError(
                f"params must be a mapping with keys {', '.join(PARAM_NAMES)}; got {type(params).__name__}"
            )
        extra = sorted(set(params) - set(PARAM_NAMES))
        if extra:
            raise ValueError(f"params has unexpected keys {extra}; expected {', '.join(PARAM_NAMES)}")
        shapes = param_shapes(self.n_features, self.hidden_units)
        checked = {}
        for key, shape in shapes.items():
            if key not in params:
                raise ValueError(f"params is missing {key!r}; expected an array of shape {shape}")
            value = np.array(params[key], dtype=self.dtype, order="C", copy=True)
            if value.shape != shape:
                raise ValueError(
                    f"params[{key!r}] must have shape {shape} for n_features={self.n_features}, "
                    f"hidden_units={self.hidden_units}; got {value.shape}"
                )
            if not np.isfinite(value).all():
                raise ValueError(f"params[{key!r}] must be finite; it holds NaN or inf")
            checked[key] = value
        return checked

    # -- checked public API ----------------------------------------------------------------------

    def _check_X(self, X) -> np.ndarray:
        return check_X(X, self.n_features, self.dtype)

    def _check_XY(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X)
        return X, check_Y(Y, X.shape[1], self.dtype)

    def forward(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Forward pass for X (features, m): returns new arrays Z1, A1 (hidden, m), Z2, Yh (1, m)."""
        X = self._check_X(X)
        buf = _Buffers(self.n_features, self.hidden_units, X.shape[1], self.dtype)
        self._forward_into(buf, X)
        return buf.Z1, buf.A1, buf.Z2, buf.Yh

    def predict_proba(self, X) -> np.ndarray:
        """Yh, the probability of malignant for each column of X (features, m); shape (1, m)."""
        return self.forward(X)[3]

    def predict(self, X, threshold: float = 0.5) -> np.ndarray:
        """0/1 predictions of shape (1, m) for X (features, m): 1 where Yh > threshold (strictly)."""
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
        return (self.predict_proba(X) > threshold).astype(int)

    def loss(self, X, Y) -> float:
        """Mean cross-entropy (from the logits) on X (features, m) with labels Y (1, m)."""
        X, Y = self._check_XY(X, Y)
        return self._eval_loss(X, Y)

    def gradients(self, X, Y) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and its gradients on X (features, m), Y (1, m).

        Returns (loss, {"dW1", "db1", "dW2", "db2"}), each gradient shaped like its parameter.
        The parameters are not changed.
        """
        X, Y = self._check_XY(X, Y)
        buf = _Buffers(self.n_features, self.hidden_units, X.shape[1], self.dtype)
        loss = self._forward_into(buf, X, Y)
        db2 = self._backward_into(buf, X, Y, scale=1.0 / X.shape[1])
        return loss, {"dW1": buf.dW1, "db1": buf.db1, "dW2": buf.dW2, "db2": np.full((1, 1), db2, self.dtype)}

    def update(self, grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Gradient-descent step in place: W -= lr·dW for each parameter.

        `grads` maps dW1, db1, dW2, db2 to arrays shaped like W1, b1, W2, b2.
        """
        lr = check_lr(lr)
        if not isinstance(grads, Mapping):
            raise ValueError(f"grads must be a mapping with keys {', '.join(GRAD_NAMES)}; got {type(grads).__name__}")
        for name, param in zip(GRAD_NAMES, (self.W1, self.b1, self.W2, self.b2), strict=True):
            if name not in grads:
                raise ValueError(f"grads is missing {name!r}; expected an array of shape {param.shape}")
            if np.shape(grads[name]) != param.shape:
                raise ValueError(f"grads[{name!r}] must have shape {param.shape}; got {np.shape(grads[name])}")
        for name, param in zip(GRAD_NAMES, (self.W1, self.b1, self.W2, self.b2), strict=True):
            param -= lr * np.asarray(grads[name], dtype=self.dtype)

    def step(self, X, Y, lr: float) -> float:
        """One gradient-descent step on the batch X (features, m), Y (1, m).

        Returns the loss on that batch BEFORE the update.
        """
        lr = check_lr(lr)
        X, Y = self._check_XY(X, Y)
        return self._step_unchecked(X, Y, lr)

    # -- unchecked fast path, for the training loop ------------------------------------------------
    # X must be a (n_features, m) array of the net's dtype and Y a (1, m) 0/1 array of that dtype.

    def _buffers(self, cache: dict[int, _Buffers], m: int) -> _Buffers:
        buf = cache.get(m)
        if buf is None:
            if len(cache) >= _MAX_CACHED_BATCH_SIZES:
                cache.clear()
            buf = cache[m] = _Buffers(self.n_features, self.hidden_units, m, self.dtype)
        return buf

    @overload
    def _forward_into(self, buf: _Buffers, X: np.ndarray, Y: np.ndarray) -> float: ...
    @overload
    def _forward_into(self, buf: _Buffers, X: np.ndarray, Y: None = None) -> None: ...

    def _forward_into(self, buf: _Buffers, X: np.ndarray, Y: np.ndarray | None = None) -> float | None:
        """Forward pass of X (features, m) into `buf`; returns the loss if labels Y (1, m) are given."""
        Z1, A1, Z2, S, Yh = buf.Z1, buf.A1, buf.Z2, buf.S, buf.Yh
        np.dot(self.W1, X, out=Z1)
        Z1 += self.b1
        np.maximum(Z1, 0, out=A1)
        np.dot(self.W2, A1, out=Z2)
        Z2 += self.b2
        # S = log1p(e^-|Z2|) serves the loss (Yh and tmp as scratch), then becomes softplus(-Z2),
        # and Yh = exp(-softplus(-Z2)).
        _log1p_exp_neg_abs_into(Z2, S)
        loss = None if Y is None else _mean_bce(S, Z2, Y, Yh, buf.tmp)
        np.minimum(Z2, 0, out=buf.tmp)
        S -= buf.tmp
        np.negative(S, out=Yh)
        np.exp(Yh, out=Yh)
        return loss

    def _backward_into(self, buf: _Buffers, X: np.ndarray, Y: np.ndarray, scale: float) -> float:
        """Back-propagate from the forward pass held in `buf`; gradients land in buf.dW1, db1, dW2.

        The gradients come out multiplied by `scale` * m: scale = 1/m gives the true gradients,
        scale = lr/m gives lr times them, ready to subtract. Returns db2 (times the same factor).
        W2 must still hold the value used in the forward pass.
        """
        Z1, dZ1, dZ2 = buf.Z1, buf.dZ1, buf.dZ2
        np.subtract(buf.Yh, Y, out=dZ2)  # dLoss/dZ2 = (Yh - Y) / m
        dZ2 *= scale
        np.dot(dZ2, buf.A1.T, out=buf.dW2)  # dW2 = dZ2·A1ᵀ
        db2 = float(dZ2.sum())  # db2 = sum over samples
        np.dot(self.W2.T, dZ2, out=dZ1)  # dA1 = W2ᵀ·dZ2
        np.multiply(dZ1, Z1 > 0, out=dZ1)  # dZ1 = dA1 * ReLU'(Z1)
        np.dot(dZ1, X.T, out=buf.dW1)  # dW1 = dZ1·Xᵀ
        np.dot(dZ1, buf.ones, out=buf.db1)  # db1 = sum of dZ1 over samples
        return db2

    def _train_forward(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Loss on X, Y, keeping the forward pass for the `_train_backward_update` that follows."""
        return self._forward_into(self._buffers(self._train_buffers, X.shape[1]), X, Y)

    def _descend(self, buf: _Buffers, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
        """Back-propagate the forward pass held in `buf` and update the parameters in place."""
        # lr is folded into dZ2, so every gradient comes out already times lr.
        db2 = self._backward_into(buf, X, Y, scale=lr / X.shape[1])
        self.W1 -= buf.dW1
        self.b1 -= buf.db1
        self.W2 -= buf.dW2
        self.b2 -= db2

    def _train_backward_update(self, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
        """Gradient step from the forward pass that `_train_forward(X, Y)` just made."""
        self._descend(self._train_buffers[X.shape[1]], X, Y, lr)

    @overload
    def _step_unchecked(self, X: np.ndarray, Y: np.ndarray, lr: float, with_loss: Literal[True] = True) -> float: ...
    @overload
    def _step_unchecked(self, X: np.ndarray, Y: np.ndarray, lr: float, with_loss: Literal[False]) -> None: ...

    def _step_unchecked(self, X: np.ndarray, Y: np.ndarray, lr: float, with_loss: bool = True) -> float | None:
        """Forward, backward and update on one batch; the loss before the update (None if not asked)."""
        buf = self._buffers(self._train_buffers, X.shape[1])
        loss = self._forward_into(buf, X, Y if with_loss else None)
        self._descend(buf, X, Y, lr)
        return loss

    def _eval_loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Loss on X, Y without touching the training step's arrays."""
        return self._forward_into(self._buffers(self._eval_buffers, X.shape[1]), X, Y)
