"""The contenders: the same two-layer network trained by the same algorithm, five ways.

  dlnet         dlnet.training.train on a dlnet.network.TwoLayerNet (the NumPy engine)
  compiled      the same, with train.engine=compiled: the same steps as Numba-compiled loops
  floor         a bare NumPy loop with the fewest operations per step: the practical floor
  article       the article's own formulation, written plainly: its loss from Yh and its
                dLoss_Yh * dSigmoid chain, new arrays for every result as it makes them
  scikit-learn  MLPClassifier configured as the same algorithm (relu, sgd, the same batch size,
                momentum 0, alpha 0, the same constant learning rate, no early stopping)
  pytorch       PyTorch eager on the CPU: nn.Linear, ReLU, nn.Linear, BCEWithLogitsLoss, optim.SGD

All start from the same weights, run the same number of epochs (no early stop), and record the
training loss once per epoch (dlnet, floor, article, PyTorch: the loss on the whole training set
after the epoch, or, for full batch, from the epoch's own forward pass; scikit-learn: its running
mean of the batch losses). Mini-batch and stochastic runs reshuffle every epoch, each with its own
random generator, so their final losses agree closely but not exactly; full-batch runs agree to
rounding. Each contender is prepared once (`prepare(task)` returns a zero-argument callable that
runs the whole training and returns an `Outcome`); only the callable is timed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NAMES = ("dlnet", "compiled", "floor", "article", "scikit-learn", "pytorch")
LABELS = {
    "dlnet": "dlnet",
    "compiled": "dlnet, compiled engine (Numba)",
    "floor": "bare NumPy (floor)",
    "article": "article (naive)",
    "scikit-learn": "scikit-learn MLPClassifier",
    "pytorch": "PyTorch eager (CPU)",
    "full_batch": "dlnet, full batch (the reference epoch)",
}
# In a mini-batch or stochastic case, dlnet's full-batch epoch on the same data, timed in the same
# turns: the reference the compiled engine's epochs are judged against, side by side.
FULL_BATCH = "full_batch"


@dataclass
class Task:
    """One training problem: data X (features, m), labels Y (1, m), initial parameters, settings."""

    X: np.ndarray
    Y: np.ndarray
    params: dict[str, np.ndarray]  # W1 (h, n), b1 (h, 1), W2 (1, h), b2 (1, 1)
    lr: float
    epochs: int
    strategy: str  # full | mini | stochastic
    batch_size: int  # m for full, 1 for stochastic
    seed: int = 0
    dtype: Any = np.float64

    @property
    def hidden(self) -> int:
        return self.params["W1"].shape[0]


@dataclass
class Outcome:
    params: dict[str, np.ndarray]  # final, dlnet's layout, float64
    losses: list[float] = field(default_factory=list)  # one per epoch as recorded
    epochs_run: int = 0


def initial_params(n_features: int, hidden: int, seed: int = 1) -> dict[str, np.ndarray]:
    """The article's initialisation (randn / sqrt(fan_in), zero biases), as dlnet draws it."""
    from dlnet.network import init_params

    return init_params(n_features, hidden, "article", np.random.RandomState(seed))


def evaluate(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    """Loss (cross-entropy from the logits) and accuracy of `params` on X, Y, in float64: one judge for all."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    with np.errstate(invalid="ignore"):  # NaN parameters (the article's, once saturated) give a NaN loss
        Z2 = p["W2"] @ np.maximum(p["W1"] @ X + p["b1"], 0) + p["b2"]
        loss = float(np.mean(np.logaddexp(0, Z2) - Y * Z2))
    accuracy = float(np.mean((Z2 > 0) == (Y > 0.5)))
    return {"loss": loss, "accuracy": accuracy}


def _copy(params: dict[str, np.ndarray], dtype) -> tuple[np.ndarray, ...]:
    return tuple(np.array(params[k], dtype=dtype, order="C", copy=True) for k in ("W1", "b1", "W2", "b2"))


def _as_params(W1, b1, W2, b2) -> dict[str, np.ndarray]:
    return {
        "W1": np.asarray(W1, np.float64),
        "b1": np.asarray(b1, np.float64).reshape(-1, 1),
        "W2": np.asarray(W2, np.float64).reshape(1, -1),
        "b2": np.asarray(b2, np.float64).reshape(1, 1),
    }


# ----------------------------------------------------------------------------------------------
# dlnet
# ----------------------------------------------------------------------------------------------


def prepare_dlnet(task: Task, engine: str = "numpy") -> Callable[[], Outcome]:
    from dlnet.network import TwoLayerNet
    from dlnet.training import train

    n = task.X.shape[0]
    X, Y = np.asarray(task.X, dtype=task.dtype), np.asarray(task.Y, dtype=task.dtype)
    batch_size = task.batch_size if task.strategy == "mini" else None

    def run() -> Outcome:
        net = TwoLayerNet(n, task.hidden, params=task.params, dtype=task.dtype)
        history = train(
            net,
            X,
            Y,
            lr=task.lr,
            epochs=task.epochs,
            strategy=task.strategy,
            batch_size=batch_size,
            seed=task.seed,
            engine=engine,
        )
        return Outcome(_as_params(net.W1, net.b1, net.W2, net.b2), history.train_loss, history.epochs_run)

    return run


def prepare_compiled(task: Task) -> Callable[[], Outcome]:
    return prepare_dlnet(task, engine="compiled")


# ----------------------------------------------------------------------------------------------
# The floor: a bare NumPy loop, the fewest operations per step
# ----------------------------------------------------------------------------------------------


def prepare_floor(task: Task) -> Callable[[], Outcome]:
    dtype = np.dtype(task.dtype)
    X, Y = np.asarray(task.X, dtype=dtype), np.asarray(task.Y, dtype=dtype)
    return (lambda: _floor_full(task, X, Y)) if task.strategy == "full" else (lambda: _floor_batches(task, X, Y))


def _floor_full(task: Task, X: np.ndarray, Y: np.ndarray) -> Outcome:
    """Full batch: every step is one forward pass (whose loss is recorded) and one backward pass.

    The loss is taken from the logits, stably, as dlnet does: S = softplus(-Z2) = -log Yh, then
    loss = mean(S + (1 - Y)·Z2) and Yh = exp(-S).
    """
    W1, b1, W2, b2 = _copy(task.params, X.dtype)
    h, (n, m) = W1.shape[0], X.shape
    A1 = np.empty((h, m), X.dtype)  # Z1, then ReLU(Z1) in place (Z1 > 0 exactly where A1 > 0)
    D1 = np.empty((h, m), X.dtype)  # dZ1
    Z2, S, T = (np.empty((1, m), X.dtype) for _ in range(3))
    dW1, db1, ones = np.empty((h, n), X.dtype), np.empty((h, 1), X.dtype), np.ones((m, 1), X.dtype)
    scale = task.lr / m
    losses = [0.0] * task.epochs
    for e in range(task.epochs):
        np.dot(W1, X, out=A1)
        A1 += b1
        np.maximum(A1, 0, out=A1)
        np.dot(W2, A1, out=Z2)
        Z2 += b2
        np.abs(Z2, out=S)  # S = log1p(exp(-|Z2|)) - min(Z2, 0)
        np.negative(S, out=S)
        np.exp(S, out=S)
        np.log1p(S, out=S)
        np.minimum(Z2, 0, out=T)
        S -= T
        losses[e] = float(S.sum() + Z2.sum() - np.vdot(Y, Z2)) / m
        np.negative(S, out=T)
        np.exp(T, out=T)  # Yh
        T -= Y
        T *= scale  # lr * dLoss/dZ2
        dW2 = T @ A1.T
        db2 = T.sum()
        np.dot(W2.T, T, out=D1)
        np.multiply(D1, A1 > 0, out=D1)
        np.dot(D1, X.T, out=dW1)
        np.dot(D1, ones, out=db1)
        W1 -= dW1
        b1 -= db1
        W2 -= dW2
        b2 -= db2
    return Outcome(_as_params(W1, b1, W2, b2), losses, task.epochs)


def _floor_batches(task: Task, X: np.ndarray, Y: np.ndarray) -> Outcome:
    """Mini-batch or stochastic: shuffle once per epoch (one gather); each batch is a view.

    The training loss on the whole set is recorded after every epoch, as dlnet records it.
    """
    W1, b1, W2, b2 = _copy(task.params, X.dtype)
    m, size, lr = X.shape[1], task.batch_size, task.lr
    XT, YT = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    ones = np.ones((size, 1), X.dtype)
    rng = np.random.default_rng(task.seed)
    losses = [0.0] * task.epochs
    with np.errstate(over="ignore"):  # exp(-Z2) = inf gives Yh = 0, as it should
        for e in range(task.epochs):
            order = rng.permutation(m)
            Xs, Ys = XT[order], YT[order]
            for start in range(0, m, size):
                Xb, Yb = Xs[start : start + size].T, Ys[start : start + size].T
                Z1 = W1 @ Xb
                Z1 += b1
                A1 = np.maximum(Z1, 0)
                Z2 = W2 @ A1
                Z2 += b2
                dZ2 = 1 / (1 + np.exp(-Z2))  # Yh
                dZ2 -= Yb
                dZ2 *= lr / Xb.shape[1]  # lr * dLoss/dZ2
                dZ1 = W2.T @ dZ2
                dZ1 *= Z1 > 0
                W1 -= dZ1 @ Xb.T
                b1 -= dZ1 @ ones[: Xb.shape[1]]
                W2 -= dZ2 @ A1.T
                b2 -= dZ2.sum()
            Z2 = W2 @ np.maximum(W1 @ X + b1, 0) + b2
            S = np.logaddexp(0, -Z2)
            losses[e] = float(S.sum() + Z2.sum() - np.vdot(Y, Z2)) / m
    return Outcome(_as_params(W1, b1, W2, b2), losses, task.epochs)


# ----------------------------------------------------------------------------------------------
# The article's formulation, written plainly
# ----------------------------------------------------------------------------------------------


def Sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def Relu(Z):
    return np.maximum(0, Z)


def dRelu(x):
    x[x <= 0] = 0
    x[x > 0] = 1
    return x


def dSigmoid(Z):
    s = 1 / (1 + np.exp(-Z))
    dZ = s * (1 - s)
    return dZ


class ArticleNet:
    """The article's `dlnet` class: dicts of parameters, a cache `ch`, its loss and its backward chain."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, dtype):
        self.param = {k: np.array(v, dtype=dtype) for k, v in params.items()}
        self.ch: dict[str, np.ndarray] = {}
        self.lr = lr

    def forward(self, X, Y):
        self.X, self.Y = X, Y
        self.sam = Y.shape[1]
        Z1 = self.param["W1"].dot(X) + self.param["b1"]
        A1 = Relu(Z1)
        self.ch["Z1"], self.ch["A1"] = Z1, A1
        Z2 = self.param["W2"].dot(A1) + self.param["b2"]
        A2 = Sigmoid(Z2)
        self.ch["Z2"], self.ch["A2"] = Z2, A2
        self.Yh = A2
        return self.nloss(A2)

    def nloss(self, Yh):
        return (1.0 / self.sam) * (-np.dot(self.Y, np.log(Yh).T) - np.dot(1 - self.Y, np.log(1 - Yh).T))

    def backward(self):
        dLoss_Yh = -(np.divide(self.Y, self.Yh) - np.divide(1 - self.Y, 1 - self.Yh))
        dLoss_Z2 = dLoss_Yh * dSigmoid(self.ch["Z2"])
        dLoss_A1 = np.dot(self.param["W2"].T, dLoss_Z2)
        dLoss_W2 = 1.0 / self.ch["A1"].shape[1] * np.dot(dLoss_Z2, self.ch["A1"].T)
        dLoss_b2 = 1.0 / self.ch["A1"].shape[1] * np.dot(dLoss_Z2, np.ones([dLoss_Z2.shape[1], 1]))
        dLoss_Z1 = dLoss_A1 * dRelu(self.ch["Z1"])
        dLoss_W1 = 1.0 / self.X.shape[1] * np.dot(dLoss_Z1, self.X.T)
        dLoss_b1 = 1.0 / self.X.shape[1] * np.dot(dLoss_Z1, np.ones([dLoss_Z1.shape[1], 1]))
        self.param["W1"] = self.param["W1"] - self.lr * dLoss_W1
        self.param["b1"] = self.param["b1"] - self.lr * dLoss_b1
        self.param["W2"] = self.param["W2"] - self.lr * dLoss_W2
        self.param["b2"] = self.param["b2"] - self.lr * dLoss_b2


def prepare_article(task: Task) -> Callable[[], Outcome]:
    dtype = np.dtype(task.dtype)
    X, Y = np.asarray(task.X, dtype=dtype), np.asarray(task.Y, dtype=dtype)
    m, size = X.shape[1], task.batch_size

    def run() -> Outcome:
        net = ArticleNet(task.params, task.lr, dtype)
        rng = np.random.default_rng(task.seed)
        losses = []
        with np.errstate(all="ignore"):  # its loss is NaN once the sigmoid saturates; recorded as is
            for _ in range(task.epochs):
                if task.strategy == "full":
                    loss = net.forward(X, Y)
                    net.backward()
                else:
                    order = rng.permutation(m)
                    for start in range(0, m, size):
                        idx = order[start : start + size]
                        net.forward(X[:, idx], Y[:, idx])
                        net.backward()
                    loss = net.forward(X, Y)
                losses.append(float(np.squeeze(loss)))
        return Outcome(_as_params(*(net.param[k] for k in ("W1", "b1", "W2", "b2"))), losses, task.epochs)

    return run


# ----------------------------------------------------------------------------------------------
# scikit-learn
# ----------------------------------------------------------------------------------------------


def prepare_sklearn(task: Task) -> Callable[[], Outcome]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    dtype = np.dtype(task.dtype)
    X = np.ascontiguousarray(task.X.T, dtype=dtype)  # (m, n): scikit-learn's samples are rows
    y = task.Y.ravel().astype(int)
    clf = MLPClassifier(
        hidden_layer_sizes=(task.hidden,),
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=task.batch_size,
        learning_rate="constant",
        learning_rate_init=task.lr,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=task.strategy != "full",
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=task.epochs + 1,
        max_iter=1,
        random_state=task.seed,
        warm_start=True,
    )
    with warnings.catch_warnings():  # one untimed epoch sets up the classes and the output layer
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.max_iter = task.epochs
    W1, b1, W2, b2 = _copy(task.params, dtype)

    def run() -> Outcome:
        # Start from the shared initial weights: warm_start keeps what is set here.
        clf.coefs_ = [W1.T.copy(), W2.T.copy()]
        clf.intercepts_ = [b1.ravel().copy(), b2.ravel().copy()]
        clf.loss_curve_, clf._no_improvement_count, clf.best_loss_ = [], 0, np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        c, i = clf.coefs_, clf.intercepts_
        return Outcome(_as_params(c[0].T, i[0], c[1].T, i[1]), list(clf.loss_curve_), clf.n_iter_)

    return run


# ----------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------


def torch_module():
    """PyTorch if it is installed, else None (it is an optional benchmark peer)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def prepare_torch(task: Task) -> Callable[[], Outcome]:
    torch = torch_module()
    if torch is None:
        raise RuntimeError("PyTorch is not installed")
    from torch import nn

    tdtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(task.dtype)]
    X = torch.from_numpy(np.ascontiguousarray(task.X.T)).to(tdtype)  # (m, n)
    Y = torch.from_numpy(np.ascontiguousarray(task.Y.T)).to(tdtype)  # (m, 1)
    m, size = X.shape[0], task.batch_size
    W1, b1, W2, b2 = (torch.from_numpy(a).to(tdtype) for a in _copy(task.params, np.float64))

    def run() -> Outcome:
        model = nn.Sequential(nn.Linear(X.shape[1], task.hidden), nn.ReLU(), nn.Linear(task.hidden, 1)).to(tdtype)
        with torch.no_grad():
            model[0].weight.copy_(W1)
            model[0].bias.copy_(b1.ravel())
            model[2].weight.copy_(W2)
            model[2].bias.copy_(b2.ravel())
        optimizer = torch.optim.SGD(model.parameters(), lr=task.lr, momentum=0.0)
        loss_fn = nn.BCEWithLogitsLoss()
        generator = torch.Generator().manual_seed(task.seed)
        losses = []
        for _ in range(task.epochs):
            if task.strategy == "full":
                optimizer.zero_grad()
                loss = loss_fn(model(X), Y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                continue
            order = torch.randperm(m, generator=generator)
            Xs, Ys = X[order], Y[order]
            for start in range(0, m, size):
                optimizer.zero_grad()
                loss = loss_fn(model(Xs[start : start + size]), Ys[start : start + size])
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                losses.append(loss_fn(model(X), Y).item())
        with torch.no_grad():
            params = [
                t.detach().to(torch.float64).numpy().copy()
                for t in (model[0].weight, model[0].bias, model[2].weight, model[2].bias)
            ]
        return Outcome(_as_params(*params), losses, task.epochs)

    return run


PREPARE = {
    "dlnet": prepare_dlnet,
    "compiled": prepare_compiled,
    "floor": prepare_floor,
    "article": prepare_article,
    "scikit-learn": prepare_sklearn,
    "pytorch": prepare_torch,
}
