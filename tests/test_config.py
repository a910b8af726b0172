"""The config schema and value checks, and params.yaml kept equal to conf/."""

import sys

import pytest
import yaml
from conftest import REPO

from dlnet.config import ConfigError, flatten, validate
from dlnet.params import compose_defaults


def test_params_yaml_is_the_composition_of_conf():
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    assert committed == compose_defaults(REPO / "conf"), "params.yaml is stale: run `make params`"


def test_defaults_validate():
    config = validate(compose_defaults(REPO / "conf"))
    assert (config.optim.lr, config.model.hidden_units, config.batch.name) == (0.07, 15, "full")


def test_article_experiment_composes_the_article_setup():
    config = validate(compose_defaults(REPO / "conf", ["experiment=article"]))
    assert config.data.name == "original" and config.data.split == "article"
    assert config.scale.method == "minmax" and config.batch.name == "full"
    assert (config.optim.lr, config.model.hidden_units, config.train.epochs) == (0.07, 15, 67000)
    assert (config.model.init, config.train.seed) == ("article", 1)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optim.lr=0"], "optim.lr"),
        (["optim.lr=-0.5"], "optim.lr"),
        (["model.hidden_units=0"], "model.hidden_units"),
        (["batch=mini", "batch.size=0"], "batch.size"),
        (["model.init=zeros"], "model.init"),
        (["train.epochs=0"], "train.epochs"),
        (["train.log_every=0"], "train.log_every"),
        (["data.val_fraction=0.6", "data.test_fraction=0.5"], "data.val_fraction"),
        (["optim.lr=fast"], "optim.lr"),  # a wrong type fails in the schema
        (["optim.lr=inf"], "optim.lr"),
        (["optim.lr=nan"], "optim.lr"),
        (["optim.lr=1e-20"], "optim.lr"),  # too small to change float64 weights
        (["model.dtype=float32", "optim.lr=1e-8"], "optim.lr"),  # ... or float32 ones
        (["train.seed=-1"], "train.seed"),
        (["train.seed=9223372036854775808"], "train.seed"),  # 2**63: beyond 64 bits
        (["data.split_seed=-1"], "data.split_seed"),
        (["train.divergence_factor=nan"], "train.divergence_factor"),
        (["train.divergence_factor=1"], "train.divergence_factor"),
        (["train.epochs=99999999999999999999999"], "train.epochs"),
        (["train.log_every=99999999999999999999999"], "train.log_every"),
        (["model.hidden_units=99999999999999999999999"], "model.hidden_units"),
        (["batch=mini", "batch.size=99999999999999999999999"], "batch.size"),
        (["model.threshold=0"], "model.threshold"),
        (["model.threshold=1"], "model.threshold"),
        (["model.threshold=nan"], "model.threshold"),
        (["data.val_fraction=nan"], "data.val_fraction"),
        (["model.dtype=float16"], "model.dtype"),
        (["train.seed=1.5"], "train.seed"),
        (["model.hidden_units=true"], "model.hidden_units"),
        (["+model.depth=3"], "model.depth"),  # an unknown key too
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_defaults(REPO / "conf", overrides))


def test_bad_value_message_names_the_value_and_what_was_expected():
    with pytest.raises(ConfigError) as caught:
        validate(compose_defaults(REPO / "conf", ["train.divergence_factor=nan"]))
    assert str(caught.value) == (
        "train.divergence_factor=nan is not allowed; expected a number above 1 (inf turns the check off)"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.divergence_factor=inf"],  # turns the divergence check off
        ["train.seed=0", "data.split_seed=0"],
        ["train.seed=9223372036854775807"],  # 2**63 - 1
        ["train.log_every=1000"],  # more than the epochs: only the last epoch is recorded
        ["model.dtype=float32", "optim.lr=1e-6"],
    ],
)
def test_edge_values_that_are_allowed(overrides):
    validate(compose_defaults(REPO / "conf", overrides))


def test_flatten_uses_dotted_keys():
    assert flatten({"optim": {"lr": 0.1}, "batch": {"name": "mini", "size": 32}}) == {
        "optim.lr": 0.1,
        "batch.name": "mini",
        "batch.size": 32,
    }


def test_make_params_recomposes_params_yaml_from_conf(tmp_path):
    from conftest import copy_project, run_tool

    project = copy_project(tmp_path / "project")
    (project / "conf" / "optim" / "sgd.yaml").write_text("lr: 0.123\n")
    check = [sys.executable, "-m", "dlnet.params", "--check"]
    assert run_tool(check, project).returncode == 1  # stale: conf/ changed
    # `make params`, without rebuilding the environment this test already runs in (-o setup)
    run_tool(["make", "-f", str(REPO / "Makefile"), "-o", "setup", "params"], project, check=True)
    assert yaml.safe_load((project / "params.yaml").read_text())["optim"]["lr"] == 0.123
    assert run_tool(check, project).returncode == 0


# --- checks that need the data's size: batch size and memory (dlnet.resources) -----------------

GIB = 2**30


def _config(*overrides):
    return validate(compose_defaults(REPO / "conf", list(overrides)))


def test_a_mini_batch_larger_than_the_training_rows_is_refused():
    from dlnet.resources import check_fits

    check_fits(_config("batch=mini", "batch.size=409"), 9, 409, 137, 137)  # every row in one batch: fine
    with pytest.raises(ConfigError, match=r"batch\.size=410 .* 409 rows; expected an integer from 1 to 409"):
        check_fits(_config("batch=mini", "batch.size=410"), 9, 409, 137, 137)


def test_a_config_that_cannot_fit_says_what_it_needs_and_what_there_is():
    from dlnet.resources import check_fits

    with pytest.raises(ConfigError) as caught:
        check_fits(_config("model.hidden_units=100000000"), 9, 409, 137, 137, available=16 * GIB)
    message = str(caught.value)
    assert message.startswith("model.hidden_units=100000000 ")
    assert "16.0 GiB available" in message
    needs = float(message.split("needs ~")[1].split(" GiB")[0].replace(",", ""))
    # Z1, A1, dZ1 of shape (1e8, 409) in float64 alone are 3 · 8 · 4.09e10 bytes.
    assert needs > 3 * 8 * 100_000_000 * 409 / GIB

    with pytest.raises(ConfigError, match=r"train\.epochs=100000000000 with train\.log_every=1 .* GiB available"):
        check_fits(_config("train.epochs=100000000000"), 9, 409, 137, 137, available=16 * GIB)
    # Recording every 10^6th epoch only, the same run fits.
    check_fits(_config("train.epochs=100000000000", "train.log_every=1000000"), 9, 409, 137, 137, available=16 * GIB)


def test_this_machine_reports_its_available_memory():
    from dlnet.resources import available_bytes

    assert 0 < available_bytes() < 2**50


# Peak resident memory from /proc (Linux): writing 5 to clear_refs resets the peak (VmHWM), so
# what the imports touched before does not hide what training adds.
ESTIMATE_PROBE = """
import sys
from pathlib import Path
import numpy as np
from dlnet.network import TwoLayerNet
from dlnet.training import train
h, strategy, dtype = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(0)
X, Xv = rng.standard_normal((9, 409)), rng.standard_normal((9, 137))
Y, Yv = rng.integers(0, 2, (1, 409)), rng.integers(0, 2, (1, 137))
def status(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key + ":"))
    return int(line.split()[1]) * 1024
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS")
net = TwoLayerNet(9, h, rng=1, dtype=dtype)
train(net, X, Y, lr=0.01, epochs=2, strategy=strategy, batch_size=32 if strategy == "mini" else None,
      X_val=Xv, Y_val=Yv)
for part in (X, Xv):
    net.predict_proba(part)
print(status("VmHWM") - before)
"""


@pytest.mark.parametrize("strategy, dtype", [("full", "float64"), ("mini", "float32")])
def test_the_memory_estimate_matches_what_training_really_uses(strategy, dtype):
    """The estimate of the network's arrays, against the peak resident memory of a real run: never below it."""
    import subprocess

    from dlnet.resources import estimate_bytes

    h = 20_000
    overrides = [f"model.hidden_units={h}", f"batch={strategy}", f"model.dtype={dtype}"]
    parts = estimate_bytes(_config(*overrides, "train.epochs=2"), 9, 409, 137, 137)
    arrays = sum(parts[key] for key in ("params", "training", "evaluation", "metrics"))
    done = subprocess.run(
        [sys.executable, "-c", ESTIMATE_PROBE, str(h), strategy, dtype],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    used = int(done.stdout.strip())
    assert 0.8 * arrays <= used <= arrays, (used, arrays)


def test_a_config_validated_again_is_the_same_and_a_copy():
    cfg = compose_defaults(REPO / "conf")
    first = validate(cfg)
    first.optim.lr = 123.0  # a caller changing its copy changes no one else's
    second = validate(cfg)
    assert second.optim.lr == 0.07
    assert second is not validate(cfg)
    bad = {**cfg, "optim": {"lr": -1.0}}
    for _ in range(2):  # a refused config is refused every time
        with pytest.raises(ConfigError, match="optim.lr"):
            validate(bad)
