"""The training loop: determinism, recorded epochs, divergence, callbacks and input checks."""

import warnings

import numpy as np
import pytest

from dlnet.network import TwoLayerNet, init_params
from dlnet.training import History, train

N_FEATURES, HIDDEN = 5, 4
STRATEGIES = [("full", None), ("mini", 8), ("stochastic", None)]


@pytest.fixture(scope="module")
def data():
    """A small noisy two-class problem: train (5, 60) and validation (5, 20)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_FEATURES, 80))
    Y = (X[0] + 0.5 * X[1] + 0.3 * rng.standard_normal(80) > 0).astype(float).reshape(1, -1)
    return X[:, :60], Y[:, :60], X[:, 60:], Y[:, 60:]


@pytest.fixture(scope="module")
def params():
    return init_params(N_FEATURES, HIDDEN, "article", rng=1)


def fresh_net(params, dtype=np.float64):
    return TwoLayerNet(N_FEATURES, HIDDEN, params=params, dtype=dtype)


# -- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy, batch_size", STRATEGIES)
def test_same_seed_gives_a_bit_identical_history(data, params, strategy, batch_size):
    X, Y, X_val, Y_val = data
    runs = []
    for _ in range(2):
        net = fresh_net(params)
        h = train(
            net, X, Y, lr=0.1, epochs=15, strategy=strategy, batch_size=batch_size, seed=3, X_val=X_val, Y_val=Y_val
        )
        runs.append((h, net))
    (a, net_a), (b, net_b) = runs
    assert a.epochs == b.epochs == list(range(1, 16))
    assert a.train_loss == b.train_loss
    assert a.val_loss == b.val_loss
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(net_a.params[name], net_b.params[name])


@pytest.mark.parametrize("strategy, batch_size", STRATEGIES[1:])
def test_different_seed_gives_a_different_history(data, params, strategy, batch_size):
    X, Y, _, _ = data
    a = train(fresh_net(params), X, Y, lr=0.1, epochs=5, strategy=strategy, batch_size=batch_size, seed=1)
    b = train(fresh_net(params), X, Y, lr=0.1, epochs=5, strategy=strategy, batch_size=batch_size, seed=2)
    assert a.train_loss != b.train_loss


def test_full_batch_does_not_depend_on_the_seed(data, params):
    X, Y, _, _ = data
    a = train(fresh_net(params), X, Y, lr=0.1, epochs=5, seed=1)
    b = train(fresh_net(params), X, Y, lr=0.1, epochs=5, seed=2)
    assert a.train_loss == b.train_loss


def test_training_starts_from_the_given_params(data, params):
    X, Y, _, _ = data
    net = fresh_net(params)
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(net.params[name], params[name])
    h = train(net, X, Y, lr=0.1, epochs=3)
    assert h.initial_loss == fresh_net(params).loss(X, Y)
    assert not np.array_equal(net.W1, params["W1"])  # trained in place, the given arrays untouched


# -- what gets recorded ------------------------------------------------------------------------------


@pytest.mark.parametrize("log_every", [1, 3, 4, 10, 25])
def test_full_batch_records_the_loss_after_each_recorded_epoch(data, params, log_every):
    X, Y, X_val, Y_val = data
    epochs = 10
    h = train(fresh_net(params), X, Y, lr=0.2, epochs=epochs, log_every=log_every, X_val=X_val, Y_val=Y_val)

    expected_epochs = sorted({e for e in range(1, epochs + 1) if e % log_every == 0} | {epochs})
    assert h.epochs == expected_epochs
    assert h.epochs_run == epochs

    # The same run by hand: the loss after e epochs, whole train set and validation set.
    manual = fresh_net(params)
    train_after, val_after = {}, {}
    for e in range(1, epochs + 1):
        manual.step(X, Y, lr=0.2)
        train_after[e], val_after[e] = manual.loss(X, Y), manual.loss(X_val, Y_val)
    assert h.train_loss == [train_after[e] for e in h.epochs]
    assert h.val_loss == [val_after[e] for e in h.epochs]


@pytest.mark.parametrize("strategy, batch_size", STRATEGIES[1:])
def test_sampled_strategies_record_the_whole_train_set_loss(data, params, strategy, batch_size):
    X, Y, X_val, Y_val = data
    net = fresh_net(params)
    h = train(
        net, X, Y, lr=0.05, epochs=7, strategy=strategy, batch_size=batch_size, log_every=3, X_val=X_val, Y_val=Y_val
    )
    assert h.epochs == [3, 6, 7]
    assert h.train_loss[-1] == net.loss(X, Y)
    assert h.val_loss[-1] == net.loss(X_val, Y_val)
    assert h.train_loss[-1] < h.initial_loss


def test_without_validation_data_val_loss_is_none(data, params):
    X, Y, _, _ = data
    seen = []
    h = train(
        fresh_net(params),
        X,
        Y,
        lr=0.1,
        epochs=4,
        log_every=2,
        callback=lambda epoch, loss, val: seen.append((epoch, loss, val)),
    )
    assert h.val_loss is None
    assert seen == [(2, h.train_loss[0], None), (4, h.train_loss[1], None)]
    assert h.seconds > 0


def test_callback_can_stop_early(data, params):
    X, Y, X_val, Y_val = data
    net = fresh_net(params)
    seen = []

    def callback(epoch, loss, val):
        seen.append((epoch, loss, val))
        return epoch == 6

    h = train(net, X, Y, lr=0.1, epochs=100, log_every=2, X_val=X_val, Y_val=Y_val, callback=callback)
    assert [s[0] for s in seen] == h.epochs == [2, 4, 6]
    assert [s[1] for s in seen] == h.train_loss and [s[2] for s in seen] == h.val_loss
    assert h.epochs_run == 6 and h.stopped_early and not h.diverged
    assert h.train_loss[-1] == net.loss(X, Y)  # the net is left as it was after epoch 6


def test_keyboard_interrupt_propagates(data, params):
    X, Y, _, _ = data

    def callback(epoch, loss, val):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(fresh_net(params), X, Y, lr=0.1, epochs=5, callback=callback)


# -- learning and divergence ---------------------------------------------------------------------------


def test_full_batch_separates_a_linearly_separable_set():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(2, 60))
    margin = X[0] - 0.5 * X[1]
    X = X[:, np.abs(margin) > 0.1]
    Y = (X[0] - 0.5 * X[1] > 0).astype(float).reshape(1, -1)
    net = TwoLayerNet(2, 8, rng=0)

    h = train(net, X, Y, lr=0.5, epochs=2000, log_every=100)

    assert not h.diverged
    np.testing.assert_array_equal(net.predict(X), Y)
    assert h.train_loss[-1] < 0.1 * h.train_loss[0]


@pytest.mark.parametrize("strategy, batch_size", STRATEGIES)
def test_huge_learning_rate_diverges_without_exceptions_or_warnings(data, params, strategy, batch_size):
    X, Y, X_val, Y_val = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = train(
            fresh_net(params),
            X * 50,
            Y,
            lr=1e6,
            epochs=200,
            strategy=strategy,
            batch_size=batch_size,
            X_val=X_val,
            Y_val=Y_val,
        )
    assert h.diverged and not h.stopped_early
    assert h.diverged_epoch == h.epochs_run == h.epochs[-1] < 200
    assert h.reason.startswith("train loss ")
    assert h.reason.endswith(f"at epoch {h.diverged_epoch}")
    assert "became" in h.reason or "exceeded 100 x its initial value" in h.reason


def test_nan_loss_is_reported_as_such(data, params):
    X, Y, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = train(fresh_net(params), X, Y, lr=1e300, epochs=10)
    assert h.diverged and h.reason == "train loss became nan at epoch 1"
    assert h.epochs == [1] and np.isnan(h.train_loss[0])


def test_non_finite_initial_loss_stops_before_the_first_epoch(data, params):
    X, Y, _, _ = data
    huge = {**params, "W1": np.sign(params["W1"]) * 1e308}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = train(fresh_net(huge), X, Y, lr=0.1, epochs=10)
    assert h.diverged and h.diverged_epoch == 0 and h.epochs_run == 0 and h.epochs == []
    assert h.reason.startswith("initial train loss is")


def test_divergence_factor(data, params):
    X, Y, _, _ = data
    h = train(fresh_net(params), X, Y, lr=50.0, epochs=50, divergence_factor=1.0)
    assert h.diverged
    assert "exceeded 1 x its initial value" in h.reason
    assert len(h.epochs) == h.epochs_run  # full batch checks every epoch, recorded or not
    h = train(fresh_net(params), X, Y, lr=50.0, epochs=50, log_every=50, divergence_factor=1.0)
    assert h.epochs == [h.diverged_epoch]


def test_float32_training(data, params):
    X, Y, X_val, Y_val = data
    net = fresh_net(params, dtype=np.float32)
    h = train(net, X, Y, lr=0.1, epochs=20, strategy="mini", batch_size=16, X_val=X_val, Y_val=Y_val)
    assert net.W1.dtype == np.float32
    assert np.all(np.isfinite(h.train_loss)) and h.train_loss[-1] < h.initial_loss
    assert h.train_loss[-1] == pytest.approx(fresh_net(net.params).loss(X, Y), rel=1e-6)


def test_history_defaults():
    h = History()
    assert (h.epochs, h.train_loss, h.val_loss, h.epochs_run, h.diverged) == ([], [], None, 0, False)


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(epochs=2.5), "epochs must be an integer"),
        (dict(log_every=0), "log_every must be an integer >= 1"),
        (dict(lr=0.0), "lr must be a finite number > 0"),
        (dict(lr=float("nan")), "lr must be a finite number > 0"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(strategy="batchy"), "strategy must be one of full, mini, stochastic"),
        (dict(strategy="mini"), r"batch_size \(batch.size\) must be given"),
        (dict(strategy="mini", batch_size=0), r"batch_size \(batch.size\) must be between 1 and .* \(60\)"),
        (dict(strategy="mini", batch_size=61), r"batch_size \(batch.size\) must be between 1 and .* \(60\)"),
        (dict(divergence_factor=0.5), "divergence_factor must be a number >= 1"),
        (dict(callback="print"), "callback must be callable"),
        (dict(X="1d"), "X must be 2-D"),
        (dict(X="features"), "X has 4 features .* n_features=5"),
        (dict(Y="short"), "Y has 59 samples but X has 60"),
        (dict(Y="1d"), r"Y must have shape \(1, samples\)"),
        (dict(Y="labels"), "Y must hold only 0/1 labels"),
        (dict(X="nan"), "X must be finite"),
        (dict(X_val="features"), "X_val has 4 features .* n_features=5"),
        (dict(Y_val="short"), "Y_val has 19 samples but X_val has 20"),
        (dict(Y_val=None), "X_val and Y_val must be given together"),
    ],
)
def test_bad_input_raises_before_training(data, params, change, match):
    X, Y, X_val, Y_val = data
    variants = {
        "1d": {"X": X[0], "Y": Y[0]},
        "features": {"X": X[:4], "X_val": X_val[:4]},
        "short": {"Y": Y[:, 1:], "Y_val": Y_val[:, 1:]},
        "labels": {"Y": Y * 2},
        "nan": {"X": np.where(X > 1, np.nan, X)},
    }
    kwargs = dict(X=X, Y=Y, X_val=X_val, Y_val=Y_val, lr=0.1, epochs=3)
    for key, value in change.items():
        kwargs[key] = variants[value][key] if isinstance(value, str) and value in variants else value
    net = fresh_net(params)
    with pytest.raises(ValueError, match=match):
        train(net, kwargs.pop("X"), kwargs.pop("Y"), **kwargs)
    np.testing.assert_array_equal(net.W1, params["W1"])


def test_net_must_be_a_network(data):
    X, Y, _, _ = data
    with pytest.raises(ValueError, match="net must be a TwoLayerNet"):
        train(object(), X, Y, lr=0.1, epochs=1)
