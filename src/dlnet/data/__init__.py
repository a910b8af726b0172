"""The data: raw formats (the original UCI file, WDBC) and the DVC stages.

Stages (run by ``dvc repro``; see dvc.yaml):

* ``python -m dlnet.data.prepare``: raw -> data/prepared (clean, label, split)
* ``python -m dlnet.data.scale``: data/prepared -> data/scaled (fit on train, apply to all)

For training, :func:`dlnet.data.dataset.load_scaled` reads data/scaled into
:class:`dlnet.data.dataset.Split` objects; both are also importable from here. They are
imported lazily, so that the stages import only the modules dvc.yaml lists as their deps.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataError", "DataNotBuiltError", "ParamsError", "Split", "load_scaled"]


def __getattr__(name: str) -> Any:
    if name in ("Split", "load_scaled"):
        from dlnet.data import dataset

        return getattr(dataset, name)
    if name in ("DataError", "DataNotBuiltError", "ParamsError"):
        from dlnet.data import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'dlnet.data' has no attribute {name!r}")
