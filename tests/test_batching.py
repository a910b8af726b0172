"""Batch strategies: every sample once per epoch, shuffled reproducibly from the seed."""

import numpy as np
import pytest

from dlnet.batching import STRATEGIES, Batches, epoch_batches, resolve_batch_size

N = 23


def epoch_indices(strategy, batch_size, rng, n=N):
    """The index batches of one epoch as lists of ints."""
    return [np.arange(n)[batch].tolist() for batch in epoch_batches(n, strategy, batch_size, rng)]


@pytest.mark.parametrize(
    "strategy, batch_size, sizes",
    [
        ("full", None, [N]),
        ("mini", 5, [5, 5, 5, 5, 3]),
        ("mini", N, [N]),
        ("stochastic", None, [1] * N),
    ],
)
def test_every_sample_exactly_once_per_epoch(strategy, batch_size, sizes):
    rng = np.random.default_rng(0)
    for _ in range(3):
        batches = epoch_indices(strategy, batch_size, rng)
        assert [len(b) for b in batches] == sizes
        assert sorted(i for b in batches for i in b) == list(range(N))


def test_full_batch_is_one_slice_without_shuffling():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert list(epoch_batches(N, "full", None, rng)) == [slice(None)]
    assert rng.bit_generator.state == state  # draws nothing


@pytest.mark.parametrize("strategy, batch_size", [("mini", 4), ("stochastic", None)])
def test_order_changes_between_epochs_and_is_reproducible(strategy, batch_size):
    rng_a, rng_b, rng_c = (np.random.default_rng(s) for s in (7, 7, 8))
    epochs_a = [epoch_indices(strategy, batch_size, rng_a) for _ in range(3)]
    epochs_b = [epoch_indices(strategy, batch_size, rng_b) for _ in range(3)]
    epochs_c = [epoch_indices(strategy, batch_size, rng_c) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    assert epochs_a != epochs_c


@pytest.mark.parametrize("strategy, batch_size", [("full", None), ("mini", 5), ("stochastic", None)])
def test_batches_match_epoch_batches(strategy, batch_size):
    X = np.arange(3 * N, dtype=float).reshape(3, N)
    Y = (np.arange(N) % 2).astype(float).reshape(1, N)
    batches = Batches(X, Y, strategy, batch_size, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    for _ in range(3):
        views = list(batches.epoch())
        indices = list(epoch_batches(N, strategy, batch_size, rng))
        assert len(views) == len(indices)
        for (Xb, Yb), idx in zip(views, indices, strict=True):
            np.testing.assert_array_equal(Xb, X[:, idx])
            np.testing.assert_array_equal(Yb, Y[:, idx])
            assert Xb.shape[0] == 3 and Yb.shape[0] == 1


def test_full_batches_are_the_arrays_themselves():
    X, Y = np.zeros((3, N)), np.zeros((1, N))
    ((Xb, Yb),) = Batches(X, Y, "full", None, np.random.default_rng(0)).epoch()
    assert Xb is X and Yb is Y


def test_resolve_batch_size():
    assert resolve_batch_size("full", None, 100) == 100
    assert resolve_batch_size("full", 32, 100) == 100
    assert resolve_batch_size("stochastic", None, 100) == 1
    assert resolve_batch_size("mini", 32, 100) == 32
    assert STRATEGIES == ("full", "mini", "stochastic")


@pytest.mark.parametrize(
    "strategy, batch_size, match",
    [
        ("batchy", 4, "strategy must be one of full, mini, stochastic; got 'batchy'"),
        ("mini", None, r"batch_size \(batch.size\) must be given"),
        ("mini", 0, r"batch_size \(batch.size\) must be between 1 and .* \(100\); got 0"),
        ("mini", 101, r"batch_size \(batch.size\) must be between 1 and .* \(100\); got 101"),
        ("mini", 2.5, r"batch_size \(batch.size\) must be an integer"),
    ],
)
def test_bad_batch_settings(strategy, batch_size, match):
    with pytest.raises(ValueError, match=match):
        resolve_batch_size(strategy, batch_size, 100)
    with pytest.raises(ValueError, match=match):
        epoch_batches(100, strategy, batch_size, np.random.default_rng(0))
