"""The training loop: epochs of batches of gradient-descent steps, giving a loss history.

One loop serves the three batch strategies (see `batching`). It checks every input once, then
runs on the network's unchecked fast path. It stops early when the loss diverges or when the
callback asks to, and never hides a KeyboardInterrupt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from dlnet.batching import Batches
from dlnet.network import TwoLayerNet, check_count, check_lr, check_X, check_Y

# callback(epoch, train_loss, val_loss) -> True to stop early
Callback = Callable[[int, float, float | None], bool | None]


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

    Raises ValueError naming the argument when an input is wrong, before any training.
    """
    if not isinstance(net, TwoLayerNet):
        raise ValueError(f"net must be a TwoLayerNet; got {type(net).__name__}")
    lr = check_lr(lr)
    epochs = check_count(epochs, "epochs")
    log_every = check_count(log_every, "log_every")
    seed = check_count(seed, "seed", minimum=0)
    if isinstance(divergence_factor, bool) or not isinstance(divergence_factor, Real) or not divergence_factor >= 1:
        raise ValueError(f"divergence_factor must be a number >= 1 (inf turns the check off); got {divergence_factor!r}")
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
    # Checks the strategy and batch size too.
    batches = Batches(X, Y, strategy, batch_size, np.random.default_rng(seed))
    full = strategy == "full"

    history = History(val_loss=[] if has_val else None)
    recorded_epochs, train_losses, val_losses = history.epochs, history.train_loss, history.val_loss
    start = time.perf_counter()
    # Overflow on the way to divergence is expected; it is reported in History, not as warnings.
    with np.errstate(all="ignore"):
        # For full batch this forward pass is also the first epoch's.
        loss = net._train_forward(X, Y) if full else net._eval_loss(X, Y)
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
            if full:
                # Backward from the forward pass that ended the previous epoch; the new forward
                # pass gives the loss after this epoch for free, and serves the next epoch.
                net._train_backward_update(X, Y, lr)
                loss = net._train_forward(X, Y)
            else:
                for Xb, Yb in batches.epoch():
                    net._step_unchecked(Xb, Yb, lr, with_loss=False)
                if not recorded:
                    continue
                loss = net._eval_loss(X, Y)

            diverged = not loss <= limit  # also true for NaN
            if not (recorded or diverged):
                continue
            val = net._eval_loss(X_val, Y_val) if has_val else None
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
