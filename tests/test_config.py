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
        (["+model.depth=3"], "model.depth"),  # an unknown key too
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_defaults(REPO / "conf", overrides))


def test_flatten_uses_dotted_keys():
    assert flatten({"optim": {"lr": 0.1}, "batch": {"name": "mini", "size": 32}}) == {
        "optim.lr": 0.1, "batch.name": "mini", "batch.size": 32,
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
