"""The network against independent references: finite differences, the article's loss, its init."""

import warnings

import numpy as np
import pytest

from dlnet.network import (
    INITS,
    TwoLayerNet,
    article_loss,
    bce_with_logits,
    init_params,
    relu,
    sigmoid,
)

PARAMS = ("W1", "b1", "W2", "b2")


def reference_loss(params, X, Y):
    """The loss written out independently of the package: forward pass, then BCE from the logits."""
    Z1 = params["W1"] @ X + params["b1"]
    Z2 = params["W2"] @ np.maximum(Z1, 0) + params["b2"]
    return np.mean(np.logaddexp(0, Z2) - Y * Z2)


def finite_difference_gradients(params, X, Y, h=1e-4):
    """Fourth-order central differences of `reference_loss` for every entry of every parameter:
    f'(x) ~ (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h, accurate to ~1e-12 here."""
    grads = {}
    for name in PARAMS:
        P = params[name]
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            keep = P[idx]
            f = {}
            for k in (-2, -1, 1, 2):
                P[idx] = keep + k * h
                f[k] = reference_loss(params, X, Y)
            P[idx] = keep
            G[idx] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
        grads[name] = G
    return grads


def away_from_relu_kinks(n_features, hidden, m, seed, weight_scale=1.0, x_scale=1.0):
    """Random params and data whose Z1 has no entry within 1e-2 of 0, where ReLU has its kink
    (the differences move Z1 by at most 2h·max|X| ~ 1e-3)."""
    rng = np.random.default_rng(seed)
    while True:
        params = {
            "W1": rng.standard_normal((hidden, n_features)) * weight_scale,
            "b1": rng.standard_normal((hidden, 1)) * 0.1,
            "W2": rng.standard_normal((1, hidden)) * weight_scale,
            "b2": rng.standard_normal((1, 1)) * 0.1,
        }
        X = rng.standard_normal((n_features, m)) * x_scale
        Y = (rng.random((1, m)) < 0.5).astype(float)
        if np.abs(params["W1"] @ X + params["b1"]).min() > 1e-2:
            return params, X, Y


def max_relative_error(a, b):
    """Elementwise |a - b| / (|a| + |b|), floored so that tiny gradients do not blow it up."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


# -- gradients -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_features, hidden, m, seed", [(3, 4, 5, 0), (7, 5, 11, 1), (30, 15, 40, 2)])
def test_gradients_match_finite_differences(n_features, hidden, m, seed):
    params, X, Y = away_from_relu_kinks(n_features, hidden, m, seed)
    net = TwoLayerNet(n_features, hidden, params=params)

    loss, grads = net.gradients(X, Y)

    assert loss == pytest.approx(reference_loss(params, X, Y), rel=1e-13)
    numeric = finite_difference_gradients(params, X, Y)
    for name in PARAMS:
        assert grads["d" + name].shape == params[name].shape
        assert max_relative_error(grads["d" + name], numeric[name]) < 1e-6, name


def test_gradients_match_finite_differences_when_the_sigmoid_saturates():
    params, X, Y = away_from_relu_kinks(6, 5, 20, seed=3, weight_scale=4.0, x_scale=4.0)
    net = TwoLayerNet(6, 5, params=params)
    Yh = net.predict_proba(X)
    assert np.any((Yh == 0) | (Yh == 1)), "the case must saturate the sigmoid"
    assert not np.isfinite(article_loss(Yh, Y))

    loss, grads = net.gradients(X, Y)

    assert np.isfinite(loss)
    numeric = finite_difference_gradients(params, X, Y)
    for name in PARAMS:
        # Correctly saturated samples add ~1e-70 to a gradient: the 1e-8 floor keeps entries made
        # only of those from counting as relative errors.
        assert max_relative_error(grads["d" + name], numeric[name]) < 1e-6, name


def test_gradients_leave_the_parameters_unchanged():
    params, X, Y = away_from_relu_kinks(4, 3, 6, seed=4)
    net = TwoLayerNet(4, 3, params=params)
    net.gradients(X, Y)
    for name in PARAMS:
        np.testing.assert_array_equal(net.params[name], params[name])


# -- loss and activations ---------------------------------------------------------------------------


def test_stable_loss_equals_the_articles_where_that_is_finite():
    rng = np.random.default_rng(5)
    Z2 = rng.uniform(-8, 8, size=(1, 200))
    Y = (rng.random((1, 200)) < 0.5).astype(float)
    assert bce_with_logits(Z2, Y) == pytest.approx(article_loss(sigmoid(Z2), Y), abs=1e-12, rel=1e-12)


def test_stable_loss_stays_finite_where_the_articles_is_not():
    Z2 = np.array([[800.0, -800.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = bce_with_logits(Z2, np.array([[1.0, 0.0]]))
        wrong = bce_with_logits(Z2, np.array([[0.0, 1.0]]))
        assert not np.isfinite(article_loss(sigmoid(Z2), np.array([[0.0, 1.0]])))
    assert right == pytest.approx(0.0, abs=1e-12)
    assert wrong == pytest.approx(800.0, rel=1e-12)


def test_sigmoid_is_stable_and_exact_enough():
    Z = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(sigmoid(Z), 1 / (1 + np.exp(-Z)), rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extremes = sigmoid(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]))
    np.testing.assert_array_equal(extremes, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert sigmoid(np.zeros(3, dtype=np.float32)).dtype == np.float32


def test_relu():
    np.testing.assert_array_equal(relu(np.array([[-2.0, 0.0, 3.0]])), [[0.0, 0.0, 3.0]])


# -- initialisation --------------------------------------------------------------------------------


def test_article_init_draws_the_articles_weights():
    # The article: np.random.seed(1); W1 = randn(h, n) / sqrt(n); W2 = randn(1, h) / sqrt(h).
    legacy = np.random.RandomState(1)
    W1 = legacy.randn(15, 9) / np.sqrt(9)
    W2 = legacy.randn(1, 15) / np.sqrt(15)

    params = init_params(9, 15, "article", rng=np.random.RandomState(1))

    np.testing.assert_array_equal(params["W1"], W1)
    np.testing.assert_array_equal(params["W2"], W2)
    np.testing.assert_array_equal(params["b1"], np.zeros((15, 1)))
    np.testing.assert_array_equal(params["b2"], np.zeros((1, 1)))


@pytest.mark.parametrize(
    "init, std_W1, std_W2",
    [
        ("article", np.sqrt(1 / 400), np.sqrt(1 / 300)),
        ("he", np.sqrt(2 / 400), np.sqrt(2 / 300)),
        ("xavier", np.sqrt(2 / 700), np.sqrt(2 / 301)),
    ],
)
def test_init_scales(init, std_W1, std_W2):
    params = init_params(400, 300, init, rng=0)
    assert params["W1"].std() == pytest.approx(std_W1, rel=0.02)
    assert params["W2"].std() == pytest.approx(std_W2, rel=0.1)


def test_init_is_reproducible_and_casts_to_dtype():
    a = init_params(5, 4, "he", rng=7)
    b = init_params(5, 4, "he", rng=np.random.default_rng(7))
    c = init_params(5, 4, "he", rng=7, dtype=np.float32)
    for name in PARAMS:
        np.testing.assert_array_equal(a[name], b[name])
        assert c[name].dtype == np.float32
        np.testing.assert_array_equal(c[name], a[name].astype(np.float32))


# -- the network -------------------------------------------------------------------------------------


def test_given_params_are_copied_and_respected():
    params = init_params(4, 3, rng=1)
    net = TwoLayerNet(4, 3, params=params)
    for name in PARAMS:
        np.testing.assert_array_equal(net.params[name], params[name])
        assert net.params[name] is not params[name]
    params["W1"][:] = 0
    assert np.any(net.W1 != 0)


def test_forward_shapes_and_values():
    params, X, _ = away_from_relu_kinks(4, 3, 6, seed=8)
    net = TwoLayerNet(4, 3, params=params)
    Z1, A1, Z2, Yh = net.forward(X)
    assert Z1.shape == A1.shape == (3, 6)
    assert Z2.shape == Yh.shape == (1, 6)
    np.testing.assert_allclose(Z1, params["W1"] @ X + params["b1"], rtol=1e-14)
    np.testing.assert_array_equal(A1, np.maximum(Z1, 0))
    np.testing.assert_allclose(Yh, 1 / (1 + np.exp(-Z2)), rtol=1e-14)
    np.testing.assert_array_equal(net.predict_proba(X), Yh)


def test_predict_is_strictly_greater_than_the_threshold():
    # With W2 = 0 and b2 = 0 every probability is exactly 0.5.
    params = init_params(2, 3, rng=0)
    params["W2"][:] = 0
    net = TwoLayerNet(2, 3, params=params)
    X = np.ones((2, 4))
    np.testing.assert_array_equal(net.predict_proba(X), np.full((1, 4), 0.5))
    np.testing.assert_array_equal(net.predict(X), np.zeros((1, 4), dtype=int))
    np.testing.assert_array_equal(net.predict(X, threshold=0.49), np.ones((1, 4), dtype=int))
    assert net.predict(X).dtype.kind == "i"


def test_step_returns_the_loss_before_an_update_equal_to_gradients_then_update():
    params, X, Y = away_from_relu_kinks(5, 4, 9, seed=9)
    a = TwoLayerNet(5, 4, params=params)
    b = TwoLayerNet(5, 4, params=params)

    loss_a = a.step(X, Y, lr=0.3)
    loss_b, grads = b.gradients(X, Y)
    b.update(grads, lr=0.3)

    assert loss_a == loss_b == pytest.approx(reference_loss(params, X, Y), rel=1e-13)
    assert a.loss(X, Y) < loss_a
    for name in PARAMS:
        np.testing.assert_allclose(a.params[name], b.params[name], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(a.params[name], params[name] - 0.3 * grads["d" + name], rtol=1e-13, atol=1e-15)


def test_float32_network():
    params, X, Y = away_from_relu_kinks(5, 4, 9, seed=10)
    net = TwoLayerNet(5, 4, params=params, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in net.params.values())
    Z1, A1, Z2, Yh = net.forward(X)  # float64 X is cast
    assert Yh.dtype == np.float32
    loss, grads = net.gradients(X, Y)
    assert loss == pytest.approx(reference_loss(params, X, Y), rel=1e-5)
    assert all(g.dtype == np.float32 for g in grads.values())
    net.step(X, Y, lr=0.1)
    assert all(p.dtype == np.float32 for p in net.params.values())


# -- bad input ---------------------------------------------------------------------------------------


@pytest.fixture
def net_and_data():
    params, X, Y = away_from_relu_kinks(4, 3, 6, seed=11)
    return TwoLayerNet(4, 3, params=params), X, Y


@pytest.mark.parametrize(
    "make_args, match",
    [
        (lambda X, Y: (X[0], Y), "X must be 2-D"),
        (lambda X, Y: (X, Y[:, :5]), "Y has 5 samples but X has 6"),
        (lambda X, Y: (X, Y[0]), r"Y must have shape \(1, samples\)"),
        (lambda X, Y: (X, np.vstack([Y, Y])), r"Y must have shape \(1, samples\)"),
        (lambda X, Y: (X, Y * 2), "Y must hold only 0/1 labels"),
        (lambda X, Y: (np.where(X > 0, np.nan, X), Y), "X must be finite"),
        (lambda X, Y: (np.where(X > 0, np.inf, X), Y), "X must be finite"),
        (lambda X, Y: (X[:3], Y), "X has 3 features .* n_features=4"),
    ],
)
@pytest.mark.parametrize("method", ["loss", "gradients", "step"])
def test_bad_data_raises_before_any_work(net_and_data, make_args, match, method):
    net, X, Y = net_and_data
    before = {k: v.copy() for k, v in net.params.items()}
    args = make_args(X, Y)
    with pytest.raises(ValueError, match=match):
        if method == "step":
            net.step(*args, lr=0.1)
        else:
            getattr(net, method)(*args)
    for name in PARAMS:
        np.testing.assert_array_equal(net.params[name], before[name])


@pytest.mark.parametrize("method", ["forward", "predict", "predict_proba"])
def test_bad_X_raises_in_prediction(net_and_data, method):
    net, X, _ = net_and_data
    with pytest.raises(ValueError, match="X has 5 features"):
        getattr(net, method)(np.zeros((5, 2)))


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "0.1"])
def test_bad_learning_rate(net_and_data, lr):
    net, X, Y = net_and_data
    before = net.W1.copy()
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        net.step(X, Y, lr=lr)
    _, grads = net.gradients(X, Y)
    with pytest.raises(ValueError, match="lr must be"):
        net.update(grads, lr=lr)
    np.testing.assert_array_equal(net.W1, before)


def test_bad_construction():
    with pytest.raises(ValueError, match="hidden_units must be an integer >= 1"):
        TwoLayerNet(4, 0)
    with pytest.raises(ValueError, match="n_features must be an integer >= 1"):
        TwoLayerNet(0, 3)
    with pytest.raises(ValueError, match="init must be one of article, he, xavier; got 'glorot'"):
        TwoLayerNet(4, 3, init="glorot")
    with pytest.raises(ValueError, match="init must be one of"):
        init_params(4, 3, init="zeros")
    with pytest.raises(ValueError, match="dtype must be a floating dtype"):
        TwoLayerNet(4, 3, dtype=np.int32)
    assert INITS == ("article", "he", "xavier")


def test_bad_params():
    good = init_params(4, 3, rng=0)
    with pytest.raises(ValueError, match=r"params\['W1'\] must have shape \(3, 4\)"):
        TwoLayerNet(4, 3, params={**good, "W1": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"params\['b2'\] must have shape \(1, 1\)"):
        TwoLayerNet(4, 3, params={**good, "b2": np.zeros(1)})
    with pytest.raises(ValueError, match="params is missing 'b1'"):
        TwoLayerNet(4, 3, params={k: v for k, v in good.items() if k != "b1"})
    with pytest.raises(ValueError, match=r"params\['W2'\] must be finite"):
        TwoLayerNet(4, 3, params={**good, "W2": np.full((1, 3), np.nan)})


def test_bad_grads_and_threshold(net_and_data):
    net, X, Y = net_and_data
    _, grads = net.gradients(X, Y)
    with pytest.raises(ValueError, match="grads is missing 'db2'"):
        net.update({k: v for k, v in grads.items() if k != "db2"}, lr=0.1)
    with pytest.raises(ValueError, match=r"grads\['dW1'\] must have shape \(3, 4\)"):
        net.update({**grads, "dW1": np.zeros((4, 3))}, lr=0.1)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        net.predict(X, threshold=1.5)
