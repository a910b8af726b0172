"""The training loop: epochs of batches of gradient-descent steps, giving a loss history.

One loop serves the three batch strategies (see `batching`). It checks every input once, then
runs on the network's unchecked fast path. It stops early when the loss diverges or when the
callback asks to, and never hides a KeyboardInterrupt.

Two engines run the epochs: "numpy", the network's own NumPy methods, and "compiled", the same
steps as compiled loops (`dlnet.compiled`, Numba), with the same shuffles, in the same order.
"auto" picks per strategy, by measurement: see AUTO_ENGINE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from dlnet.batching import Batches, resolve_batch_size
from dlnet.network import TwoLayerNet, check_count, check_lr, check_X, check_Y

# callback(epoch, train_loss, val_loss) -> True to stop early
Callback = Callable[[int, float, float | None], bool | None]

ENGINES = ("auto", "numpy", "compiled")
# What "auto" runs. Measured (BENCHMARKS.md, section 1): a compiled stochastic epoch is over 100x
# faster than NumPy's, paying NumPy's per-call overhead once per sample; mini-batches of 32 gain
# several times; a full-batch epoch is a few large matrix products, where BLAS is as fast or faster.
AUTO_ENGINE = {"full": "numpy", "mini": "compiled", "stochastic": "compiled"}


class EngineUnavailableError(ValueError):
    """train.engine=compiled was asked for, but Numba cannot be imported here."""


def compiled_kernels():
    """The module `dlnet.compiled`; EngineUnavailableError, in one line, when Numba cannot be imported."""
    try:
        from dlnet import compiled
    except (ImportError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EngineUnavailableError(
            f"train.engine=compiled needs Numba, which cannot be imported here ({reason}); "
            "install numba or use train.engine=numpy"
        ) from None
    return compiled


def compile_ahead() -> list[str]:
    """Compile the kernels `auto` runs (mini-batch and stochastic, float64, with validation data,
    epochs with and without the loss), or load them from Numba's cache: a few epochs on random
    data. Returns the strategies done; none where Numba cannot be imported. `make setup` calls it,
    so that a machine's first sweep does not pay the compilation (~10 s) inside its first runs."""
    try:
        compiled_kernels()
    except EngineUnavailableError:
        return []
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 20)), (rng.random((1, 20)) < 0.5).astype(np.float64)
    done = []
    for strategy, engine in AUTO_ENGINE.items():
        if engine == "compiled":
            # Two epochs, the loss recorded at the second: an epoch without the loss, and one with it.
            net, batch_size = TwoLayerNet(3, 2, rng=0), 8 if strategy == "mini" else None
            train(
                net,
                X,
                Y,
                lr=0.1,
                epochs=2,
                strategy=strategy,
                batch_size=batch_size,
                X_val=X,
                Y_val=Y,
                log_every=2,
                engine=engine,
            )
            done.append(strategy)
    return done


def resolve_engine(engine: str, strategy: str) -> str:
    """The engine that runs: "numpy" or "compiled". "auto" takes AUTO_ENGINE's choice for the
    strategy, and falls back to "numpy" when Numba cannot be imported; "compiled" raises
    EngineUnavailableError then."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine == "auto":
        engine = AUTO_ENGINE.get(strategy, "numpy")
        if engine == "compiled":
            try:
                compiled_kernels()
            except EngineUnavailableError:
                return "numpy"
        return engine
    if engine == "compiled":
        compiled_kernels()
    return engine


@dataclass
class History:
    """What a training run did, epoch by epoch.

    epochs          the recorded epochs, 1-based (every `log_every`-th and the last one run)
    train_loss      loss on the WHOLE training set after that epoch's updates
    val_loss        loss on the validation set at those epochs, or None without validation data
    epochs_run      epochs actually run (fewer than asked after divergence or an early stop)
    diverged        whether the loss became non-finite or grew past the divergence limit
    diverged_epoch  the epoch where that was seen, else None
    reason          why it diverged, in words, else None
    seconds         wall time of the loop
    stopped_early   whether the callback asked to stop
    initial_loss    training loss before any update
    engine          the engine that ran: "numpy" or "compiled"
    """

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] | None = None
    epochs_run: int = 0
    diverged: bool = False
    diverged_epoch: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    stopped_early: bool = False
    initial_loss: float | None = None
    engine: str = "numpy"


def _divergence_reason(loss: float, initial: float, factor: float, epoch: int) -> str:
    if not math.isfinite(loss):
        return f"train loss became {loss} at epoch {epoch}"
    return f"train loss {loss:.4g} exceeded {factor:g} x its initial value {initial:.4g} at epoch {epoch}"


def train(
    net: TwoLayerNet,
    X,
    Y,
    *,
    lr: float,
    epochs: int,
    strategy: str = "full",
    batch_size: int | None = None,
    seed: int = 0,
    X_val=None,
    Y_val=None,
    log_every: int = 1,
    callback: Callback | None = None,
    divergence_factor: float = 100.0,
    engine: str = "numpy",
) -> History:
    """Train `net` in place by gradient descent on X (features, m) with labels Y (1, m).

    strategy, batch_size  "full", "mini" (needs batch_size) or "stochastic"; see `batching`.
    seed                  seeds the shuffling, separately from the weights' initialisation:
                          the same seed, data and settings give a bit-identical history.
    X_val, Y_val          optional validation set, (features, m_val) and (1, m_val).
    log_every             record every log_every-th epoch; the last epoch run is always recorded.
    callback              called as callback(epoch, train_loss, val_loss) at each recorded epoch
                          (the divergent one included); returning True stops training early.
    divergence_factor     stop, with History.diverged set, once the train loss is NaN or inf or
                          exceeds this many times its initial value (inf turns the check off).
                          Checked every epoch for full batch, at recorded epochs otherwise.
    engine                "numpy", "compiled" or "auto" (see `resolve_engine`); History.engine
                          says which ran.

    Raises ValueError naming the argument when an input is wrong, before any training.
    """
    if not isinstance(net, TwoLayerNet):
        raise ValueError(f"net must be a TwoLayerNet; got {type(net).__name__}")
    lr = check_lr(lr)
    epochs = check_count(epochs, "epochs")
    log_every = check_count(log_every, "log_every")
    seed = check_count(seed, "seed", minimum=0)
    if isinstance(divergence_factor, bool) or not isinstance(divergence_factor, Real) or not divergence_factor >= 1:
        raise ValueError(
            f"divergence_factor must be a number >= 1 (inf turns the check off); got {divergence_factor!r}"
        )
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None; got {callback!r}")
    X = check_X(X, net.n_features, net.dtype, "X")
    Y = check_Y(Y, X.shape[1], net.dtype, "Y", "X")
    if (X_val is None) != (Y_val is None):
        raise ValueError("X_val and Y_val must be given together, or neither")
    has_val = X_val is not None
    if has_val:
        X_val = check_X(X_val, net.n_features, net.dtype, "X_val")
        Y_val = check_Y(Y_val, X_val.shape[1], net.dtype, "Y_val", "X_val")
    resolve_batch_size(strategy, batch_size, X.shape[1])  # checks the strategy and the batch size
    engine = resolve_engine(engine, strategy)
    rng = np.random.default_rng(seed)
    if engine == "compiled":
        steps = _CompiledSteps(net, X, Y, X_val, Y_val, strategy, batch_size, rng, lr)
    else:
        steps = _NumpySteps(net, X, Y, X_val, Y_val, strategy, batch_size, rng, lr)
    full = strategy == "full"

    history = History(val_loss=[] if has_val else None, engine=engine)
    recorded_epochs, train_losses, val_losses = history.epochs, history.train_loss, history.val_loss
    start = time.perf_counter()
    # Overflow on the way to divergence is expected; it is reported in History, not as warnings.
    with np.errstate(all="ignore"):
        # For full batch this forward pass is also the first epoch's.
        loss = steps.train_loss()
        history.initial_loss = initial = loss
        if not math.isfinite(initial):
            history.diverged, history.diverged_epoch = True, 0
            history.reason = f"initial train loss is {initial}"
            history.seconds = time.perf_counter() - start
            return history
        limit = divergence_factor * initial

        epoch = 0
        for epoch in range(1, epochs + 1):
            recorded = epoch % log_every == 0 or epoch == epochs
            if not (full or recorded):
                steps.epoch()
                continue
            loss = steps.epoch_loss()

            diverged = not loss <= limit  # also true for NaN
            if not (recorded or diverged):
                continue
            val = steps.val_loss() if has_val else None
            recorded_epochs.append(epoch)
            train_losses.append(loss)
            if has_val:
                val_losses.append(val)
            stop = callback is not None and callback(epoch, loss, val)
            if diverged:
                history.diverged, history.diverged_epoch = True, epoch
                history.reason = _divergence_reason(loss, initial, divergence_factor, epoch)
                break
            if stop:
                history.stopped_early = True
                break

    history.epochs_run = epoch
    history.seconds = time.perf_counter() - start
    return history


class _NumpySteps:
    """The epochs on the network's own NumPy methods (network.py)."""

    def __init__(self, net, X, Y, X_val, Y_val, strategy, batch_size, rng, lr):
        self.net, self.X, self.Y, self.X_val, self.Y_val, self.lr = net, X, Y, X_val, Y_val, lr
        self.full = strategy == "full"
        self.batches = Batches(X, Y, strategy, batch_size, rng)

    def epoch(self) -> None:
        if self.full:
            # Backward from the forward pass that ended the previous epoch (train_loss): full batch
            # computes the loss every epoch, so that forward pass also serves the next epoch.
            self.net._train_backward_update(self.X, self.Y, self.lr)
            return
        for Xb, Yb in self.batches.epoch():
            self.net._step_unchecked(Xb, Yb, self.lr, with_loss=False)

    def epoch_loss(self) -> float:
        """epoch(), then train_loss()."""
        self.epoch()
        return self.train_loss()

    def train_loss(self) -> float:
        if self.full:
            return self.net._train_forward(self.X, self.Y)
        return self.net._eval_loss(self.X, self.Y)

    def val_loss(self) -> float:
        return self.net._eval_loss(self.X_val, self.Y_val)


class _CompiledSteps:
    """The same epochs as compiled loops (dlnet.compiled), on the network's own arrays, in place.

    Draws the same shuffles as `Batches`: rng.permutation(m) per epoch (none for full batch). The
    kernels draw it as rng.shuffle of 0..m-1 in a reused array (NumPy's permutation is arange and
    shuffle), from a copy of rng's state (`compiled.shuffle`; rng itself is left as it was), and
    reset it to 0..m-1 after the epoch. The losses come from the same formula as the network's,
    compiled too (`mean_loss`). Every work array is allocated here, once per run: an epoch
    allocates nothing.
    """

    def __init__(self, net, X, Y, X_val, Y_val, strategy, batch_size, rng, lr):
        self.kernels = compiled_kernels()
        self.net = net
        m = X.shape[1]
        size = resolve_batch_size(strategy, batch_size, m)
        self.full = strategy == "full"
        # Contiguous copies: X (features, m), labels y (m,); for stochastic steps XT (m, features).
        self.X, self.y = np.ascontiguousarray(X), np.ascontiguousarray(Y[0])
        self.XT = np.ascontiguousarray(X.T) if size == 1 else None
        self.X_val = None if X_val is None else np.ascontiguousarray(X_val)
        self.y_val = None if Y_val is None else np.ascontiguousarray(Y_val[0])
        # The epoch's order of the samples (m,): 0..m-1, shuffled by the kernels as an epoch starts,
        # from the generator's state (uint64[6], see compiled.pcg64_state). Unsigned, so that
        # indexing with it needs no check for negative indices.
        self.order = np.arange(m, dtype=np.uint64)
        self.rng_state = self.kernels.pcg64_state(rng)
        # Scalars in the net's dtype, as NumPy casts them: lr / b for a batch of b samples.
        dtype = net.dtype.type
        self.zero, self.one = dtype(0), dtype(1)
        self.scale, self.last_scale = dtype(lr / size), dtype(lr / (m - (m - 1) // size * size))
        hidden = net.W1.shape[0]
        # The epoch's samples in shuffled order (the full batch uses X and y as they are), and
        # the scratch of one batch: Z1 (hidden, size), dZ1 (2, size) and dZ2 (size,).
        self.XP, self.yP = (self.X, self.y) if self.full else (np.empty_like(self.X), np.empty_like(self.y))
        self.Z1 = np.empty((hidden, size), net.dtype)
        self.dZ1, self.dZ2 = np.empty((2, size), net.dtype), np.empty(size, net.dtype)
        # The loss's scratch over a whole set (the larger set's rows): Z1 of two hidden units, Z2.
        rows = max(m, 0 if X_val is None else X_val.shape[1])
        self.loss_Z1, self.loss_Z2 = np.empty((2, rows), net.dtype), np.empty(rows, net.dtype)

        # Every argument of the epoch kernels, bound once: the network's arrays (updated in place),
        # the data, the order and the generator's state, the scalars and the scratch. Per epoch one
        # call is left in Python; with the loss after it, the same call (its kernel ends in mean_loss).
        kernels, params = self.kernels, (net.W1, net.b1, net.W2, net.b2)
        loss_scratch = (self.loss_Z1, self.loss_Z2)
        if size == 1:  # stochastic, or a "full batch" of one sample
            self.epoch_args = (*params, self.XT, self.y, self.order, self.rng_state, self.scale, self.Z1)
            self.epoch_args += (self.zero, self.one)
            self.epoch_kernel, self.epoch_loss_kernel = kernels.sample_epoch, kernels.sample_epoch_loss
            self.epoch_loss_args = (*self.epoch_args, self.X, *loss_scratch)
        else:
            order = None if self.full else self.order  # the full batch's order never changes
            self.epoch_args = (*params, self.X, self.y, order, self.rng_state, self.XP, self.yP, size)
            self.epoch_args += (self.scale, self.last_scale)
            self.epoch_args += (self.Z1, self.dZ1, self.dZ2, self.zero, self.one)
            self.epoch_kernel, self.epoch_loss_kernel = kernels.batch_epoch, kernels.batch_epoch_loss
            self.epoch_loss_args = (*self.epoch_args, *loss_scratch)

    def epoch(self) -> None:
        self.epoch_kernel(*self.epoch_args)

    def epoch_loss(self) -> float:
        """epoch(), then train_loss(), in one compiled call."""
        return self.epoch_loss_kernel(*self.epoch_loss_args)

    def _loss(self, X, y) -> float:
        net = self.net
        return self.kernels.mean_loss(net.W1, net.b1, net.W2, net.b2, X, y, self.loss_Z1, self.loss_Z2, self.zero)

    def train_loss(self) -> float:
        return self._loss(self.X, self.y)

    def val_loss(self) -> float:
        return self._loss(self.X_val, self.y_val)
