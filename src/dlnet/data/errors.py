"""The errors the data stages expect, and how a stage reports them.

An expected problem (a malformed raw file, an invalid parameter, a missing input) is a
:class:`DataError`. Its message says where the problem is (file, line, column, or the
parameter's dotted key) and what was expected. A stage's ``main`` prints it as one
``error: ...`` line on stderr and exits with status 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_DATA_ERROR = 2


class DataError(Exception):
    """An expected, user-fixable problem with the input data or the parameters."""


class ParamsError(DataError):
    """An invalid or missing parameter; the message names its dotted key (e.g. ``data.missing``)."""


class DataNotBuiltError(DataError, FileNotFoundError):
    """A stage's input has not been built yet; the message says to run ``dvc repro``."""


def located(path: object, line: int, column: int, name: str, message: str) -> str:
    """Format a message that points at one cell of a text file (line and column 1-based)."""
    return f"{path}, line {line}, column {column} ({name}): {message}"


def run_stage(stage: Callable[[], None]) -> int:
    """Run a stage body; turn a :class:`DataError` into ``error: ...`` on stderr and exit code 2."""
    try:
        stage()
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA_ERROR
    return 0
