"""A sweep's job configs composed once per set of group choices are the configs Hydra composes."""

import pytest
from hydra import initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf

from dlnet import compose_once
from dlnet.cli import CONFIG_DIR


def _jobs(master):
    preset = master.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in preset.items()] + list(master.hydra.overrides.task)
    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(arguments), None)
    return jobs


@pytest.mark.parametrize(
    "overrides",
    [
        # the default sweep, with what the controller sends every job (hydra.job.env_set)
        ["+sweep=grid", "tracking.uri=sqlite:////tmp/store.db", "++hydra.job.env_set.DLNET_X='a b'", "train.epochs=7"],
        # groups and values mixed, a hydra group, a forced and an added key, data and scaling swept
        [
            "data=original,article",
            "scale=standard,minmax",
            "batch=mini",
            "batch.size=8,64",
            "hydra/launcher=joblib",
            "++train.seed=3",
            "+tracking.note=x",
            "hydra.job.chdir=false",
            "optim.lr=0.5",
        ],
        # a preset that overrides groups itself, values swept over it
        ["experiment=article", "optim.lr=0.1,0.2", "~tracking.run_name"],
    ],
)
def test_same_configs_as_hydra(overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=overrides, run_mode=RunMode.MULTIRUN)
        jobs = _jobs(master)
        composer = compose_once.ComposeOnce(loader)
        for job in jobs:
            ours = OmegaConf.to_container(composer.load_sweep_config(master, job))
            hydras = OmegaConf.to_container(ConfigLoaderImpl.load_sweep_config(loader, master, job))
            assert ours == hydras, job
        choices = {tuple(o for o in job if o.split("=")[0] in ("batch", "data", "scale", "experiment")) for job in jobs}
        assert composer.compositions == len(choices) < len(jobs)


def test_installed_for_a_sweep_and_removed_after():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=["+sweep=grid"], run_mode=RunMode.MULTIRUN)
        composer = compose_once.install(loader)
        try:
            for job in _jobs(master) * 2:  # the basic sweeper's check, then its launch
                loader.load_sweep_config(master, job)
            assert composer.compositions == 3  # batch=full, mini, stochastic
            # A bad value fails as it does in Hydra, naming the key.
            with pytest.raises(ConfigCompositionException, match="optim.lrr"):
                loader.load_sweep_config(master, ["batch=mini", "optim.lrr=1"])
        finally:
            compose_once.uninstall(loader)
        assert "load_sweep_config" not in vars(loader)


def test_a_job_asked_again_gets_its_own_copy():
    """The pre-check, the sweeper and the launch each ask for a job's config: made once, then copied,
    so that what one caller changes (the launcher sets hydra.job.num) never reaches the next."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=["+sweep=grid"], run_mode=RunMode.MULTIRUN)
        composer = compose_once.ComposeOnce(loader)
        job = _jobs(master)[4]
        first = composer.load_sweep_config(master, job)
        expected = OmegaConf.to_container(first)
        OmegaConf.set_struct(first, False)
        first.optim.lr, first.hydra.job.num, first.added = 123.0, 7, "x"
        again = composer.load_sweep_config(master, job)
        assert again is not first and OmegaConf.to_container(again) == expected
        assert len(composer.jobs) == 1
