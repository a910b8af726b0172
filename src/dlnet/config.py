"""The configuration schema and the value checks that run before any training.

The YAML tree in `conf/` says *what* the defaults are; the dataclasses here say
what every key must look like. `validate` merges a composed config into the
schema (a wrong type or an unknown key fails there) and then checks the values
(a learning rate must be positive, and so on). Every error names the key.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlnet.batching import STRATEGIES as BATCH_STRATEGIES
from dlnet.data.variants import NAME_PATTERN
from dlnet.network import INITS
from dlnet.training import ENGINES, EngineUnavailableError, compiled_kernels

DATASETS = ("original", "wdbc")
MISSING_POLICIES = ("drop", "median")
SPLITS = ("stratified", "article")
SCALE_METHODS = ("standard", "minmax")
DTYPES = ("float64", "float32")
TRACKING_MODES = ("local", "server")
PLOT_SCALES = ("log", "linear")


@dataclass
class DataConfig:
    variant: str = "original"  # the file conf/data/<variant>.yaml; its data in data/scaled/<variant>-<scale>
    name: str = "original"
    raw: str | None = "data/raw/breast-cancer-wisconsin.data"
    missing: str = "drop"
    split: str = "stratified"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class ScaleConfig:
    method: str = "standard"


@dataclass
class ModelConfig:
    hidden_units: int = 15
    init: str = "article"
    dtype: str = "float64"
    threshold: float = 0.5


@dataclass
class BatchConfig:
    name: str = "full"
    size: int | None = None


@dataclass
class OptimConfig:
    lr: float = 0.07


@dataclass
class TrainConfig:
    epochs: int = 500
    seed: int = 1
    log_every: int = 1
    divergence_factor: float = 100.0
    engine: str = "auto"


@dataclass
class TrackingConfig:
    name: str = "local"
    uri: str | None = None
    experiment: str = "dlnet"
    run_name: str | None = None  # None: named for what differs (`lr=0.07 h=15 mini`)
    loss_plot_scale: str = "log"
    register: bool = True  # a sweep registers its best run as dlnet-<data set>@champion


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; expected one of: {', '.join(allowed)}")


# Integers reach NumPy and MLflow (metric steps) as 64-bit integers.
INT64_MAX = 2**63 - 1


def _positive(key: str, value: float, *, integer: bool = False) -> None:
    kind = "an integer from 1 to 2**63 - 1" if integer else "a positive finite number"
    bad = not 1 <= value <= INT64_MAX if integer else not (math.isfinite(value) and value > 0)
    if bad:
        raise ConfigError(f"{key}={value!r} is not allowed; expected {kind}")


def _seed(key: str, value: int) -> None:
    if not 0 <= value <= INT64_MAX:
        raise ConfigError(f"{key}={value!r} is not allowed; expected an integer from 0 to 2**63 - 1")


def _learning_rate(lr: float, dtype: str) -> None:
    _positive("optim.lr", lr)
    # A step lr·gradient below the dtype's relative precision leaves the weights unchanged:
    # such a run would finish "trained" with its initial weights.
    smallest = float(np.finfo(dtype).eps)
    if lr < smallest:
        raise ConfigError(
            f"optim.lr={lr!r} is not allowed; it is too small to change {dtype} weights; "
            f"expected a finite number >= {smallest:.3g} (the {dtype} machine epsilon)"
        )


def to_schema(cfg: DictConfig | dict) -> Config:
    """Merge `cfg` into the typed schema; a wrong type or unknown key raises ConfigError."""
    if isinstance(cfg, DictConfig):
        plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    else:
        plain = dict(cfg)
    plain.pop("hydra", None)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), plain)
    except OmegaConfBaseException as error:
        message = str(error.msg if hasattr(error, "msg") else error).splitlines()[0]
        key = getattr(error, "full_key", None)
        raise ConfigError(f"{key}: {message}" if key else message) from None
    return cast(Config, OmegaConf.to_object(merged))  # a structured Config converts to a Config


def validate(cfg: DictConfig | dict) -> Config:
    """Type-check `cfg` against the schema, then check every value; return the typed config.

    A config this process validated already is not merged into the schema again (a sweep checks
    every job before the first starts, then each job checks its own): a copy of the result."""
    plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)) if isinstance(cfg, DictConfig) else cfg
    try:
        key: str | None = json.dumps({k: v for k, v in plain.items() if k != "hydra"}, sort_keys=True)
    except (TypeError, ValueError):  # not plain data: checked, not remembered
        key = None
    if key is not None and key in _validated:
        return copy.deepcopy(_validated[key])
    config = _validate(plain)
    if key is not None:
        if len(_validated) >= 256:  # a long study's trials: keep the memory bounded
            _validated.clear()
        _validated[key] = copy.deepcopy(config)
    return config


_validated: dict[str, Config] = {}  # the configs `validate` accepted, by their JSON


def _validate(cfg: dict) -> Config:
    config = to_schema(cfg)
    data, model, batch = config.data, config.model, config.batch
    if not NAME_PATTERN.match(str(data.variant)):
        raise ConfigError(
            f"data.variant={data.variant!r} is not allowed; expected a lower-case name of letters, digits and '_'"
        )
    _choice("data.name", data.name, DATASETS)
    _choice("data.missing", data.missing, MISSING_POLICIES)
    _choice("data.split", data.split, SPLITS)
    for key in ("val_fraction", "test_fraction"):
        value = getattr(data, key)
        if not 0 <= value < 1:
            raise ConfigError(f"data.{key}={value!r} is not allowed; expected a number in [0, 1)")
    if data.val_fraction + data.test_fraction >= 1:
        raise ConfigError("data.val_fraction + data.test_fraction must be below 1, leaving rows to train on")
    _seed("data.split_seed", data.split_seed)
    _choice("scale.method", config.scale.method, SCALE_METHODS)
    _positive("model.hidden_units", model.hidden_units, integer=True)
    _choice("model.init", model.init, INITS)
    _choice("model.dtype", model.dtype, DTYPES)
    if not 0 < model.threshold < 1:
        raise ConfigError(f"model.threshold={model.threshold!r} is not allowed; expected a number in (0, 1)")
    _choice("batch", batch.name, BATCH_STRATEGIES)
    if batch.name == "full" and batch.size is not None:
        raise ConfigError("batch.size is set but batch=full uses every sample; choose batch=mini to set a size")
    if batch.name == "mini":
        if batch.size is None:
            raise ConfigError("batch.size is required for batch=mini; expected an integer from 1 to the training rows")
        _positive("batch.size", batch.size, integer=True)
    if batch.name == "stochastic" and batch.size != 1:
        raise ConfigError(f"batch.size={batch.size!r} is not allowed for batch=stochastic; it is always 1")
    _learning_rate(config.optim.lr, model.dtype)
    _positive("train.epochs", config.train.epochs, integer=True)
    _positive("train.log_every", config.train.log_every, integer=True)
    _seed("train.seed", config.train.seed)
    factor = config.train.divergence_factor
    if not factor > 1:  # NaN too
        raise ConfigError(
            f"train.divergence_factor={factor!r} is not allowed; expected a number above 1 (inf turns the check off)"
        )
    _choice("train.engine", config.train.engine, ENGINES)
    if config.train.engine == "compiled":
        try:
            compiled_kernels()
        except EngineUnavailableError as error:
            raise ConfigError(str(error)) from None
    _choice("tracking.name", config.tracking.name, TRACKING_MODES)
    _choice("tracking.loss_plot_scale", config.tracking.loss_plot_scale, PLOT_SCALES)
    if not config.tracking.experiment:
        raise ConfigError("tracking.experiment must name an MLflow experiment")
    return config


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 0.07}} -> {'optim.lr': 0.07}: the params MLflow records."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
