"""The search space: Hydra's override syntax read as Optuna distributions, checked up front.

    optim.lr: tag(log, interval(1e-3, 1))               a float, log-uniform
    model.hidden_units: tag(log, int(interval(2, 64)))  an integer on a log scale
    train.epochs: range(100, 1001, 100)                 integers 100, 200, ..., 1000 (stop excluded, as in Hydra)
    batch: choice(full, mini, stochastic)               a category (`full,mini,stochastic` too)
    model.init: he                                      a fixed value for every trial

`conditions` makes a key depend on another key's value: `batch.size: batch=mini` searches a batch
size only in the trials that chose mini-batches (the others keep their own default). A condition
on a key that is not searched is ignored; where `other` is set rather than searched (`batch=full`),
the key is searched in every trial or in none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A pre-check composes every corner of the space; past this many it varies one key at a time.
MAX_CORNERS = 256


class SearchSpaceError(ValueError):
    """The search space is wrong; the message names the key and what was expected."""


@dataclass(frozen=True)
class Dimension:
    """One searched key. kind: "float", "int" or "category"; low/high inclusive."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[str, Any] | None = None  # searched only in trials where that key took that value

    def suggest(self, trial: Any) -> Any:
        """Ask the trial (an optuna.Trial) for this key's value."""
        if self.kind == "category":
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None  # a range always has both bounds
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)

    def applies(self, chosen: Mapping[str, Any]) -> bool:
        return self.when is None or chosen.get(self.when[0]) == self.when[1]

    def corners(self) -> tuple[Any, ...]:
        """The values a pre-check composes: both ends of a range, every category."""
        return self.choices if self.kind == "category" else tuple(dict.fromkeys((self.low, self.high)))

    def describe(self) -> str:
        if self.kind == "category":
            text = f"{self.key} in {{{', '.join(map(str, self.choices))}}}"
        else:
            text = f"{self.key} in [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")
            text += " integer" if self.kind == "int" else ""
        return text + (f" when {self.when[0]}={self.when[1]}" if self.when else "")


def override_value(value: Any) -> str:
    """A suggested value as Hydra override text: floats keep every digit."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _error(line: str, what: str) -> SearchSpaceError:
    return SearchSpaceError(f"search space `{line}`: {what}")


def _dimension(line: str, override: Any) -> Dimension:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    key = override.get_key_element()
    value = override.value()
    tags = set(getattr(value, "tags", ()) or ())
    if tags - {"log"}:
        raise _error(line, f"unknown tag(s) {', '.join(sorted(tags - {'log'}))}; the only tag understood is log")
    log = "log" in tags
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
            raise _error(line, "the bounds must be finite numbers")
        if low > high:
            raise _error(line, f"low {low:g} > high {high:g}; expected interval(low, high) with low <= high")
        if log and low <= 0:
            raise _error(line, f"a log scale needs low > 0 (got {low:g}): the range may not reach or cross 0")
        return Dimension(key, kind, low, high, log=log)
    if isinstance(value, RangeSweep) and not value.shuffle:
        values = list(override.sweep_iterator())
        if not values:
            raise _error(
                line,
                f"the range is empty (start {value.start:g}, stop {value.stop:g}, step {value.step:g}; "
                "stop is excluded); expected start < stop for a positive step",
            )
        if log:
            raise _error(line, "log applies to interval(...) only, not to range(...)")
        low, high = min(values), max(values)
        kind = "int" if all(isinstance(v, int) for v in values) else "float"
        return Dimension(key, kind, low, high, step=abs(value.step) if len(values) > 1 else None)
    if isinstance(value, (ChoiceSweep, RangeSweep)):
        if log:
            raise _error(line, "log applies to interval(...) only, not to a choice")
        choices = tuple(override.sweep_iterator())
        if not choices:
            raise _error(line, "no choices given")
        if len(set(choices)) != len(choices):
            raise _error(line, "a choice is listed twice")
        return Dimension(key, "category", choices=choices)
    raise _error(
        line, "not a search expression this sweeper understands; expected interval(...), range(...) or choice(...)"
    )


def parse_space(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str] = (),
    conditions: Mapping[str, str] | None = None,
) -> tuple[list[Dimension], list[str]]:
    """The searched dimensions and the fixed overrides every trial gets.

    params      hydra.sweeper.params: key -> override text
    arguments   the command line's overrides; they win over params for the same key
    conditions  key -> "other=value": search key only where the category `other` took `value`
    Raises SearchSpaceError naming the key.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + [str(a) for a in arguments]
    chosen: dict[str, tuple[str, Any]] = {}
    for line in lines:
        try:
            override = parser.parse_override(line)
        except HydraException as error:
            raise SearchSpaceError(f"search space `{line}`: {str(error).splitlines()[0]}") from None
        chosen[override.get_key_element()] = (line, override)

    dimensions: dict[str, Dimension] = {}
    fixed: list[str] = []
    for key, (line, override) in chosen.items():
        if override.is_sweep_override() and not override.is_delete():
            dimensions[key] = _dimension(line, override)
        else:
            fixed.append(line)

    fixed_values = {
        override.get_key_element(): override.get_value_element_as_str()
        for _, (_, override) in chosen.items()
        if not override.is_sweep_override() and not override.is_delete()
    }
    for key, condition in (conditions or {}).items():
        other, sep, wanted = str(condition).partition("=")
        other, wanted = other.strip(), wanted.strip()
        if key not in dimensions:
            continue  # a condition on a key not searched constrains nothing
        if other in fixed_values:  # `other` is set, not searched: the key is searched always, or never
            if fixed_values[other] != wanted:
                del dimensions[key]
            continue
        parent = dimensions.get(other)
        if not sep or parent is None or parent.kind != "category":
            raise SearchSpaceError(
                f"hydra.sweeper.conditions.{key}={condition!r}: expected `other=value` where "
                f"`other` is a searched choice (searched: {', '.join(dimensions) or 'none'})"
            )
        match = [c for c in parent.choices if override_value(c) == wanted]
        if not match:
            raise SearchSpaceError(
                f"hydra.sweeper.conditions.{key}={condition!r}: {wanted!r} is not one of "
                f"{other}'s choices ({', '.join(map(str, parent.choices))})"
            )
        dimensions[key] = Dimension(**{**dimensions[key].__dict__, "when": (other, match[0])})
    # A conditional key comes after the key it depends on: the trial knows that value first.
    ordered = sorted(dimensions.values(), key=lambda d: d.when is not None)
    return ordered, fixed


def corners(dimensions: Sequence[Dimension]) -> Iterator[dict[str, Any]]:
    """Value sets that reach every end of the space (conditional keys only where they apply)."""
    free = [d for d in dimensions if d.when is None]
    conditional = [d for d in dimensions if d.when is not None]
    count = math.prod(len(d.corners()) for d in dimensions) if dimensions else 1
    bases: Iterator[dict[str, Any]]
    if count <= MAX_CORNERS:
        bases = (
            dict(zip((d.key for d in free), values, strict=True))
            for values in itertools.product(*(d.corners() for d in free))
        )
    else:
        # Too many to compose: the low corner, then every other value of one key at a time.
        low = {d.key: d.corners()[0] for d in free}
        bases = itertools.chain([low], ({**low, d.key: v} for d in free for v in d.corners()[1:]))
    for base in bases:
        applying = [d for d in conditional if d.applies(base)]
        for values in itertools.product(*(d.corners() for d in applying)):
            yield {**base, **dict(zip((d.key for d in applying), values, strict=True))}
