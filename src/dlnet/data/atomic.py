"""Write an output directory or a file all at once, or not at all.

:func:`atomic_directory` hands out a fresh temporary directory beside the target. When
the ``with`` block succeeds the temporary directory replaces the target (the old one, if
any, is moved aside first and removed after); when the block raises, the temporary
directory is deleted and the target is left as it was. A failed stage therefore never
leaves a half-written output behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``target`` when the block completes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
        old = None
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:
                os.replace(old / target.name, target)
            raise
        finally:
            if old is not None:
                _remove(old)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_atomically(path: str | os.PathLike[str], write: Callable[[Any], None], mode: str) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it into place.

    ``mode`` is ``"w"`` (text, UTF-8) or ``"wb"``; a failed ``write`` leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding, newline = (None, None) if "b" in mode else ("utf-8", "")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; an output is meant to be read
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
