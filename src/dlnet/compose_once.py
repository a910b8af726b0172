"""A sweep's job configs, composed once per choice of config groups instead of once per job.

Hydra composes every job of a multirun from scratch, and the basic sweeper does it twice per
job (it first checks that the whole batch composes, then launches it): ~0.1 s a composition,
most of a short job's fixed cost. Yet the 27 jobs of `make sweep` differ in plain values
(`optim.lr=0.07`) and in one group choice (`batch=mini`); only group choices change what is
composed. So this composes once per set of group choices, then does what Hydra does after
composing: set the plain values (Hydra's own `_apply_overrides_to_config`, in the same order),
and record the overrides (`hydra.overrides`, `hydra.job.override_dirname`). The result is the
config Hydra would have composed for the job (tests/test_sweeps.py compares them key by key).

The sweep's controller installs it on Hydra's config loader for the multirun (`install`) and
removes it at the end (`uninstall`). Where it cannot be sure (a `hydra.searchpath` override,
which changes where groups are found), it leaves the composition to Hydra.
"""

from __future__ import annotations

import copy
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

# Hydra reads these while composing, not after: an override of them shapes the composition.
SHAPING_KEYS = ("hydra.searchpath", "hydra.job.env_copy")
MAX_JOBS_KEPT = 1024  # a grid's jobs: a few hundred at most, each a few KB


class ComposeOnce:
    """`load_sweep_config` for a Hydra config loader, from one composition per set of group choices."""

    def __init__(self, loader: ConfigLoaderImpl) -> None:
        self.loader = loader
        self.bases: dict[tuple[Any, ...], DictConfig] = {}
        # Each job's config, asked for three times (the sweep's pre-check, the sweeper's, the launch):
        # made once, then copied. The oldest is dropped past MAX_JOBS_KEPT (a study's trials are asked once).
        self.jobs: dict[tuple[str, ...], DictConfig] = {}
        self.compositions = 0  # how many times Hydra composed a config from scratch

    def __getstate__(self) -> dict[str, Any]:
        # A launcher may ship the loader to worker processes (joblib): the caches stay here.
        return {**self.__dict__, "bases": {}, "jobs": {}}

    def _shapes(self, override: Override) -> bool:
        """Whether `override` changes what is composed (a group choice), not a value set afterwards."""
        if override.get_key_element().startswith(SHAPING_KEYS):
            return True
        value = override.value()
        return self.loader.repository.group_exists(override.key_or_group) and not isinstance(value, dict)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """The job's config, as ConfigLoaderImpl.load_sweep_config composes it."""
        hydra_lines = [str(line) for line in master_config.hydra.overrides.hydra]
        if OmegaConf.select(master_config, "hydra.searchpath"):
            return ConfigLoaderImpl.load_sweep_config(self.loader, master_config, sweep_overrides)
        config_name = master_config.hydra.job.config_name
        job_key = (config_name, *hydra_lines, "", *sweep_overrides)
        if job_key not in self.jobs:
            if len(self.jobs) >= MAX_JOBS_KEPT:
                del self.jobs[next(iter(self.jobs))]
            self.jobs[job_key] = self._compose(master_config, config_name, hydra_lines, sweep_overrides)
        cfg = copy.deepcopy(self.jobs[job_key])
        # As load_sweep_config: the job resolves ${now:...} and the like as the sweep did.
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def _compose(
        self, master_config: DictConfig, config_name: str, hydra_lines: list[str], sweep_overrides: list[str]
    ) -> DictConfig:
        """The job's config from its composition's base, with its plain values set and its overrides recorded."""
        parsed = OverridesParser.create().parse_overrides(hydra_lines + list(sweep_overrides))
        shaping = [self._shapes(override) for override in parsed]
        choices = [str(override.input_line) for override, shapes in zip(parsed, shaping, strict=True) if shapes]
        key = (config_name, *choices)
        if key not in self.bases:
            self.compositions += 1
            self.bases[key] = self.loader.load_configuration(
                config_name=config_name, overrides=choices, run_mode=RunMode.RUN
            )
        cfg = copy.deepcopy(self.bases[key])
        # What _load_configuration_impl does with the overrides after composing, in its order.
        ConfigLoaderImpl._apply_overrides_to_config(
            [override for override, shapes in zip(parsed, shaping, strict=True) if not shapes], cfg
        )
        app_overrides = [override for override in parsed if not override.is_hydra_override()]
        cfg.hydra.overrides.hydra = [override.input_line for override in parsed if override.is_hydra_override()]
        cfg.hydra.overrides.task = [override.input_line for override in app_overrides]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app_overrides,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        return cfg


def install(loader: ConfigLoader) -> ComposeOnce:
    """Make `loader.load_sweep_config` compose once per set of group choices, until `uninstall`."""
    assert isinstance(loader, ConfigLoaderImpl), "Hydra's own config loader"
    composer = ComposeOnce(loader)
    loader.load_sweep_config = composer.load_sweep_config  # type: ignore[method-assign]
    return composer


def uninstall(loader: ConfigLoader) -> None:
    """Give `loader` back Hydra's own load_sweep_config."""
    loader.__dict__.pop("load_sweep_config", None)
