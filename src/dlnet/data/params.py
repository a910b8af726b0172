"""Read and check the ``data`` and ``scale`` sections of params.yaml.

The DVC stages read ``params.yaml`` at the project root (DVC's Hydra composition writes it
from ``conf/``). Only the keys a stage reads are looked at, and each is checked here, so a
bad value fails with a message naming its dotted key before any data is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlnet.data.errors import ParamsError
from dlnet.data.variants import NAME_PATTERN

DATASETS = ("original", "wdbc")
MISSING = ("drop", "median")
SPLITS = ("stratified", "article")
SCALE_METHODS = ("standard", "minmax")


@dataclass(frozen=True)
class DataParams:
    """The ``data.*`` keys (see conf/data/*.yaml)."""

    variant: str  # the variant's name: its file conf/data/<variant>.yaml, its folder data/prepared/<variant>
    name: str  # original | wdbc
    raw: str | None  # the raw file, relative to the project root; None for wdbc
    missing: str  # drop | median
    split: str  # stratified | article
    val_fraction: float
    test_fraction: float
    split_seed: int


@dataclass(frozen=True)
class ScaleParams:
    """The ``scale.*`` keys (see conf/scale/*.yaml)."""

    method: str  # standard | minmax


def load_params(path: str | Path) -> dict[str, Any]:
    """Load a params file (YAML mapping); a missing or malformed file is a :class:`ParamsError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except OSError as error:
        raise ParamsError(f"{path}: cannot read the params file ({error.strerror})") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of config groups (data:, scale:, ...)")
    return params


def _section(params: dict[str, Any], key: str, source: object) -> dict[str, Any]:
    section = params.get(key)
    if not isinstance(section, dict):
        raise ParamsError(f"{source}: `{key}` section missing; expected a mapping with the {key}.* keys")
    return section


def _require(section: dict[str, Any], group: str, key: str, source: object) -> Any:
    if key not in section:
        raise ParamsError(f"{source}: {group}.{key} is missing")
    return section[key]


def _choice(section: dict[str, Any], group: str, key: str, choices: tuple[str, ...], source: object) -> str:
    value = _require(section, group, key, source)
    if value not in choices:
        raise ParamsError(f"{source}: {group}.{key} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _fraction(section: dict[str, Any], key: str, source: object) -> float:
    value = _require(section, "data", key, source)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ParamsError(f"{source}: data.{key} must be a number strictly between 0 and 1; got {value!r}")
    return float(value)


def data_params(params: dict[str, Any], source: object = "params.yaml") -> DataParams:
    """Check and return the ``data`` section; ``source`` names the file in messages."""
    section = _section(params, "data", source)
    name = _choice(section, "data", "name", DATASETS, source)
    variant = section.get("variant", name)
    if not isinstance(variant, str) or not NAME_PATTERN.match(variant):
        raise ParamsError(
            f"{source}: data.variant must be a lower-case name of letters, digits and '_' (a folder name); "
            f"got {variant!r}"
        )
    raw = section.get("raw")
    if name == "original":
        if not isinstance(raw, str) or not raw.strip():
            raise ParamsError(
                f"{source}: data.raw must be the path of the raw file for data.name=original; got {raw!r}"
            )
    else:
        raw = None  # wdbc is read from scikit-learn's bundled copy
    missing = _choice(section, "data", "missing", MISSING, source)
    split = _choice(section, "data", "split", SPLITS, source)
    if split == "article" and name != "original":
        raise ParamsError(
            f"{source}: data.split=article is defined only for data.name=original "
            f"(the article's rows 0-499 / 501-682); use data.split=stratified for {name}"
        )
    if split == "article" and missing != "drop":
        raise ParamsError(
            f"{source}: data.split=article is the article's split of the 683 rows left after dropping "
            f"the rows with '?'; it needs data.missing=drop, got data.missing={missing}"
        )
    val_fraction = _fraction(section, "val_fraction", source)
    test_fraction = _fraction(section, "test_fraction", source)
    if val_fraction + test_fraction >= 1:
        raise ParamsError(
            f"{source}: data.val_fraction + data.test_fraction must be below 1 (the rest is train); "
            f"got {val_fraction} + {test_fraction}"
        )
    seed = _require(section, "data", "split_seed", source)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"{source}: data.split_seed must be a non-negative integer; got {seed!r}")
    return DataParams(variant, name, raw, missing, split, val_fraction, test_fraction, seed)


def scale_params(params: dict[str, Any], source: object = "params.yaml") -> ScaleParams:
    """Check and return the ``scale`` section; ``source`` names the file in messages."""
    section = _section(params, "scale", source)
    return ScaleParams(method=_choice(section, "scale", "method", SCALE_METHODS, source))


def load_group_file(path: str | Path, group: str) -> dict[str, Any]:
    """One option file of a config group (``conf/data/wdbc.yaml``) as ``{group: {...}}``.

    A data variant's file must carry its own name as ``variant`` (or none), since its
    folder is named after the file.
    """
    path = Path(path)
    section = load_params(path)
    if group == "data" and section.setdefault("variant", path.stem) != path.stem:
        raise ParamsError(f"{path}: data.variant is {section['variant']!r}; expected {path.stem!r}, the file's name")
    return {group: section}
