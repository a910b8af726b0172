"""Data variants: every data × scaling choice of conf/, built side by side by DVC.

A data variant is a file ``conf/data/<name>.yaml`` (which raw data, how to clean and split
it); a scaling is a file ``conf/scale/<method>.yaml``. ``dvc repro`` builds every pair that
``conf/variants.yaml`` lists, each in a folder of its own::

    data/prepared/<data variant>/           train.csv val.csv test.csv meta.json
    data/scaled/<data variant>-<method>/    the same, scaled, + scaler.json

so one sweep can span them: a job reads the folder its config names (``data.variant``,
``scale.method``) after checking its meta.json says the same.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

PREPARED_DIR = Path("data/prepared")
SCALED_DIR = Path("data/scaled")
CATALOGUE = Path("conf/variants.yaml")
# A variant's name is a folder name and part of a DVC stage name.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def prepared_dir(data_variant: str) -> Path:
    """data/prepared/<data variant>, relative to the project root."""
    return PREPARED_DIR / data_variant


def scaled_name(data_variant: str, method: str) -> str:
    """The scaled variant's name: ``original-standard``."""
    return f"{data_variant}-{method}"


def scaled_dir(data_variant: str, method: str) -> Path:
    """data/scaled/<data variant>-<method>, relative to the project root."""
    return SCALED_DIR / scaled_name(data_variant, method)


def build_command(data_variant: str, method: str) -> str:
    """The one command that builds a variant listed in conf/variants.yaml (DVC's matrix stage name)."""
    return f"dvc repro scale@{scaled_name(data_variant, method)}"


def catalogue(root: Path) -> dict[str, list[str]]:
    """The variants `dvc repro` builds: ``{"data": [...], "scale": [...]}`` (empty lists if unknown)."""
    path = Path(root) / CATALOGUE
    try:
        listed = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("variants", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return {"data": [], "scale": []}
    return {key: [str(name) for name in listed.get(key, [])] for key in ("data", "scale")}
