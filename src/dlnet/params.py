"""params.yaml is the composition of conf/'s defaults: the file DVC's stages read.

    python -m dlnet.params --write    rewrite params.yaml from conf/
    python -m dlnet.params --check    exit 1 when params.yaml differs from conf/

`dvc exp run -S key=value` composes conf/ into params.yaml itself (DVC's Hydra
composition); this keeps the committed file equal to the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import OmegaConf

from dlnet.lineage import project_root

HEADER = "# Composed from conf/ (python -m dlnet.params --write); edit conf/, not this file.\n"


def compose_defaults(config_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """conf/config.yaml with its defaults, resolved, without Hydra's own settings."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides or [])
    return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compose conf/ into params.yaml.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true")
    action.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    root = project_root()
    composed = compose_defaults(root / "conf")
    params_path = root / "params.yaml"
    if args.write:
        params_path.write_text(HEADER + yaml.safe_dump(composed, sort_keys=False))
        print(f"wrote {params_path.name}")
        return 0
    current = yaml.safe_load(params_path.read_text()) if params_path.is_file() else None
    if current != composed:
        print("params.yaml differs from conf/: run `make params`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
