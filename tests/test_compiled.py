"""train.engine=compiled: the same numbers as the NumPy engine, and a real sweep that uses it.

The compiled loops add the terms of each sum in another order than BLAS does (the mini-batch sums
as vector partial sums), so the two engines agree to rounding, not bit for bit. The bars: float64
loss histories and final weights within 1e-12 (relative) over 20 epochs and 1e-9 over the default
500 (measured: at most 5e-15 and 3e-14). float32 to its own precision, 2^29 times coarser (the
float64 bars scaled so would be 5e-4 and 0.5): within 1e-5 over 20 epochs and 5e-2 over 500
(measured: 2.2e-6 here; over 500 epochs 8.2e-3 here and 1.1e-2 on the article's min-max data:
500 × 409 shuffled float32 updates, each rounded 2^29 times more coarsely, carry the two paths a
few per cent apart in the loss).
The largest differences seen are reported by `make bench` (BENCHMARKS.md, section 1).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import BIN, REPO, run_tool, sqlite_uri
from mlflow.tracking import MlflowClient

from dlnet.data.original import FEATURES, read_original
from dlnet.network import PARAM_NAMES, TwoLayerNet
from dlnet.training import AUTO_ENGINE, resolve_engine, train

BARS = {("float64", 20): 1e-12, ("float64", 500): 1e-9, ("float32", 20): 1e-5, ("float32", 500): 5e-2}
# (strategy, batch size): 409 training rows, so 32 and 7 leave a last, smaller batch (25 and 3).
STRATEGIES = [("full", None), ("mini", 32), ("mini", 7), ("stochastic", None)]


@pytest.fixture(scope="module")
def data():
    """The original file, '?' rows dropped, standardised: train (9, 409), validation (9, 137)."""
    table = read_original(REPO / "data" / "raw" / "breast-cancer-wisconsin.data").dropna()
    features = table[FEATURES].to_numpy(dtype=np.float64)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    X = np.ascontiguousarray(features.T)
    Y = table["label"].to_numpy(dtype=np.float64).reshape(1, -1)
    return X[:, :409], Y[:, :409], X[:, 409:546], Y[:, 409:546]


def both_engines(data, *, dtype="float64", with_val=True, hidden=15, **settings):
    """Train one fresh net per engine from the same initial weights and seed; return (history, net) each."""
    X, Y, X_val, Y_val = data
    runs = {}
    for engine in ("numpy", "compiled"):
        net = TwoLayerNet(X.shape[0], hidden, rng=1, dtype=dtype)
        history = train(
            net,
            X,
            Y,
            seed=3,
            X_val=X_val if with_val else None,
            Y_val=Y_val if with_val else None,
            engine=engine,
            **settings,
        )
        assert history.engine == engine
        runs[engine] = (history, net)
    return runs["numpy"], runs["compiled"]


def largest_differences(reference, compiled) -> dict[str, float]:
    """Relative differences: per epoch for the losses, max |difference| / max |value| per parameter."""
    (h0, net0), (h1, net1) = reference, compiled
    assert h1.epochs == h0.epochs and h1.epochs_run == h0.epochs_run
    out = {"train loss": float(np.max(np.abs(np.subtract(h1.train_loss, h0.train_loss)) / np.abs(h0.train_loss)))}
    if h0.val_loss is not None:
        out["val loss"] = float(np.max(np.abs(np.subtract(h1.val_loss, h0.val_loss)) / np.abs(h0.val_loss)))
    for name in PARAM_NAMES:
        a, b = net0.params[name].astype(np.float64), net1.params[name].astype(np.float64)
        out[name] = float(np.max(np.abs(b - a)) / np.max(np.abs(a)))
    return out


def assert_same_numbers(reference, compiled, bar: float) -> None:
    differences = largest_differences(reference, compiled)
    assert max(differences.values()) <= bar, differences


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("with_val", [True, False], ids=["val", "no-val"])
@pytest.mark.parametrize("strategy, batch_size", STRATEGIES)
def test_same_numbers_over_20_epochs(data, strategy, batch_size, with_val, dtype):
    runs = both_engines(
        data, dtype=dtype, with_val=with_val, lr=0.07, epochs=20, strategy=strategy, batch_size=batch_size
    )
    assert_same_numbers(*runs, BARS[dtype, 20])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("strategy, batch_size", [("full", None), ("mini", 32), ("stochastic", None)])
def test_same_numbers_over_500_epochs(data, strategy, batch_size, dtype):
    runs = both_engines(data, dtype=dtype, lr=0.07, epochs=500, strategy=strategy, batch_size=batch_size)
    assert_same_numbers(*runs, BARS[dtype, 500])


def test_same_numbers_wide_and_fast(data):
    """The sweep's widest net and largest rate, where the sums are longest and the steps biggest."""
    runs = both_engines(data, hidden=64, lr=0.3, epochs=20, strategy="mini", batch_size=32)
    assert_same_numbers(*runs, BARS["float64", 20])


@pytest.mark.parametrize("n_features, hidden", [(3, 4), (12, 5), (30, 6)])
def test_same_numbers_for_other_widths(data, n_features, hidden):
    """Feature and unit counts that take the loops' other paths: fewer than four features, counts
    that leave features after the groups of four and eight, an odd and an even number of units."""
    X, Y, X_val, Y_val = data
    columns = np.arange(n_features) % X.shape[0]  # the data's 9 features, repeated or cut
    wide = (X[columns], Y, X_val[columns], Y_val)
    runs = both_engines(wide, hidden=hidden, lr=0.07, epochs=20, strategy="mini", batch_size=32)
    assert_same_numbers(*runs, BARS["float64", 20])


def test_the_kernels_exponential_is_within_an_ulp_of_numpys():
    """`compiled._exp`, the e^-|Z2| of the mini-batch and loss kernels, compiled as they are."""
    from numba import njit

    from dlnet import compiled

    @njit(fastmath=compiled.SUMS_REORDERED)
    def exps(xs, out):
        for i in range(xs.shape[0]):
            out[i] = compiled._exp(xs[i])

    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, -1e-300, -708.4, -745.1, -745.2, -746.0, -800.0, -1e300, -np.inf, np.nan]
    xs = np.concatenate([-rng.uniform(0, 746, 200_000), -rng.uniform(0, 1e-3, 10_000), edges])
    out = np.empty_like(xs)
    exps(xs, out)
    reference = np.exp(xs)
    normal = reference >= np.finfo(np.float64).tiny
    assert np.max(np.abs(out - reference)[normal] / np.spacing(reference[normal])) <= 1.0
    tiny = ~normal & ~np.isnan(reference)  # subnormal or 0: within the smallest step
    assert np.max(np.abs(out - reference)[tiny]) <= np.spacing(0.0)
    assert list(out[-5:-1]) == [0.0, 0.0, 0.0, 0.0] and np.isnan(out[-1])


@pytest.mark.parametrize("m", [1, 2, 3, 32, 683, 70_000])
@pytest.mark.parametrize("half_waiting", [False, True], ids=["fresh", "half-waiting"])
def test_the_kernels_shuffle_draws_numpys_orders_bit_for_bit(m, half_waiting):
    """`compiled.shuffle`, from the generator's state, gives rng.shuffle's orders epoch after epoch
    and leaves the state rng.shuffle leaves, also when a 32-bit half of a draw is waiting."""
    from dlnet import compiled

    rng = np.random.default_rng(12345)
    if half_waiting:
        rng.shuffle(np.arange(2))  # one 32-bit draw: the other half of its 64 bits waits
    rng_state = compiled.pcg64_state(rng)
    assert rng_state[4] == half_waiting
    ours, numpys = np.arange(m, dtype=np.uint64), np.arange(m, dtype=np.uint64)
    orders = set()
    for _ in range(3 if m > 1000 else 40):
        compiled.shuffle(ours, rng_state)
        rng.shuffle(numpys)
        assert np.array_equal(ours, numpys)
        orders.add(ours.tobytes())
    assert np.array_equal(rng_state, compiled.pcg64_state(rng))
    assert (len(orders) > 1) == (m > 1)  # it did shuffle (a single sample has one order)


def test_the_kernels_shuffle_refuses_another_generator():
    from dlnet import compiled

    with pytest.raises(ValueError, match="PCG64; got MT19937"):
        compiled.pcg64_state(np.random.Generator(np.random.MT19937(0)))


@pytest.mark.parametrize("strategy, batch_size", [("full", None), ("mini", 7), ("stochastic", None)])
def test_divergence_stops_both_engines_at_the_same_epoch(data, strategy, batch_size):
    (h0, net0), (h1, net1) = both_engines(
        data, lr=40.0, epochs=30, strategy=strategy, batch_size=batch_size, divergence_factor=3.0
    )
    assert h0.diverged and h1.diverged
    assert h1.diverged_epoch == h0.diverged_epoch and h1.epochs == h0.epochs
    assert h1.reason == h0.reason
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-12)


@pytest.mark.parametrize("strategy, batch_size", [("full", None), ("mini", 32), ("stochastic", None)])
def test_the_callback_sees_the_same_epochs_and_can_stop_either_engine(data, strategy, batch_size):
    calls = {"numpy": [], "compiled": []}

    def recorder(engine):
        def callback(epoch, train_loss, val_loss):
            calls[engine].append((epoch, train_loss, val_loss))
            return epoch >= 9

        return callback

    X, Y, X_val, Y_val = data
    for engine in calls:
        net = TwoLayerNet(9, 15, rng=1)
        history = train(
            net,
            X,
            Y,
            lr=0.07,
            epochs=50,
            strategy=strategy,
            batch_size=batch_size,
            seed=3,
            X_val=X_val,
            Y_val=Y_val,
            log_every=3,
            callback=recorder(engine),
            engine=engine,
        )
        assert history.stopped_early and history.epochs_run == 9 and history.epochs == [3, 6, 9]
    assert [c[0] for c in calls["compiled"]] == [c[0] for c in calls["numpy"]] == [3, 6, 9]
    np.testing.assert_allclose([c[1:] for c in calls["compiled"]], [c[1:] for c in calls["numpy"]], rtol=1e-12)


def test_auto_picks_by_strategy(data):
    assert {strategy: resolve_engine("auto", strategy) for strategy in AUTO_ENGINE} == {
        "full": "numpy",
        "mini": "compiled",
        "stochastic": "compiled",
    }
    X, Y, _, _ = data
    for strategy, batch_size in (("full", None), ("mini", 32)):
        history = train(
            TwoLayerNet(9, 4, rng=1), X, Y, lr=0.07, epochs=2, strategy=strategy, batch_size=batch_size, engine="auto"
        )
        assert history.engine == AUTO_ENGINE[strategy]
    with pytest.raises(ValueError, match="engine must be one of auto, numpy, compiled; got 'jit'"):
        train(TwoLayerNet(9, 4, rng=1), X, Y, lr=0.07, epochs=2, engine="jit")


# -- without Numba --------------------------------------------------------------------------------


@pytest.fixture
def no_numba(tmp_path):
    """A PYTHONPATH entry whose `numba` fails to import, as it would where Numba is broken or absent."""
    package = tmp_path / "shadow" / "numba"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError(\"No module named 'numba'\")\n")
    return str(tmp_path / "shadow")


def test_without_numba_numpy_and_auto_still_train_and_compiled_says_why(no_numba, tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from dlnet.network import TwoLayerNet
        from dlnet.training import EngineUnavailableError, train
        X = np.random.default_rng(0).standard_normal((3, 20)); Y = (X[:1] > 0).astype(float)
        print(train(TwoLayerNet(3, 2, rng=1), X, Y, lr=0.1, epochs=2, engine="numpy").engine)
        print(train(TwoLayerNet(3, 2, rng=1), X, Y, lr=0.1, epochs=2, strategy="stochastic", engine="auto").engine)
        try:
            train(TwoLayerNet(3, 2, rng=1), X, Y, lr=0.1, epochs=2, engine="compiled")
        except EngineUnavailableError as error:
            print(error)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": no_numba, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "numpy",
        "numpy",
        "train.engine=compiled needs Numba, which cannot be imported here (No module named 'numba'); "
        "install numba or use train.engine=numpy",
    ]


def test_without_numba_dlnet_train_fails_before_any_run(built_project, tmp_path, no_numba):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [str(BIN / "dlnet-train"), "train.engine=compiled", "batch=mini", "train.epochs=2", f"tracking.uri={uri}"],
        built_project,
        timeout=120,
        PYTHONPATH=no_numba,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        "error: train.engine=compiled needs Numba, which cannot be imported here "
        "(No module named 'numba'); install numba or use train.engine=numpy"
    ]
    assert not (tmp_path / "mlflow.db").exists()


# -- a real sweep ---------------------------------------------------------------------------------


def test_joblib_sweep_with_the_compiled_engine_on_a_new_store(built_project, tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    done = run_tool(
        [
            str(BIN / "dlnet-train"),
            "-m",
            "optim.lr=0.05,0.2",
            "batch=full,mini,stochastic",
            "train.engine=compiled",
            "train.epochs=5",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        built_project,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("dlnet").experiment_id], max_results=100)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 6 == len(runs) - 1
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["train.engine"] == "compiled"
        assert child.data.tags["dlnet.engine"] == "compiled"
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train/loss")] == [1, 2, 3, 4, 5]


def test_compiled_ahead_a_new_process_loads_the_kernels_instead_of_compiling(tmp_path):
    """`make setup` compiles what `auto` runs (training.compile_ahead); a run in a new process, as a
    sweep's first, then loads every kernel from Numba's cache and compiles none."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    ahead = "from dlnet.training import compile_ahead; print(compile_ahead())"
    first = run_tool([sys.executable, "-c", ahead], REPO, timeout=300, **env)
    assert first.returncode == 0 and first.stdout.strip() == "['mini', 'stochastic']", first.stderr
    run = textwrap.dedent(
        """
        import numpy as np
        from dlnet import compiled
        from dlnet.network import TwoLayerNet
        from dlnet.training import train

        rng = np.random.default_rng(1)
        X, Y = rng.standard_normal((5, 50)), (rng.random((1, 50)) < 0.5).astype(np.float64)
        Xv, Yv = rng.standard_normal((5, 9)), (rng.random((1, 9)) < 0.5).astype(np.float64)
        for strategy, size in (("mini", 16), ("stochastic", None)):
            train(TwoLayerNet(5, 7, rng=2), X, Y, lr=0.1, epochs=3, strategy=strategy, batch_size=size,
                  X_val=Xv, Y_val=Yv, log_every=2, engine="auto")
        kernels = [compiled.batch_epoch, compiled.batch_epoch_loss, compiled.sample_epoch, compiled.sample_epoch_loss,
                   compiled.mean_loss]
        hits = sum(sum(kernel.stats.cache_hits.values()) for kernel in kernels)
        print(hits, sum(sum(kernel.stats.cache_misses.values()) for kernel in kernels))
        """
    )
    later = run_tool([sys.executable, "-c", run], REPO, timeout=300, **env)
    assert later.returncode == 0, later.stderr
    hits, misses = map(int, later.stdout.split())
    assert misses == 0 and hits == 5, later.stdout  # every kernel loaded, none compiled
