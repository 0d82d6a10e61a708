"""Reading plain data (a saved run's JSON) field by field, strictly: no coercion, every failure a
SpecError naming the file and the field's path, e.g.

    run.json: measurements[3].stats.median: expected a positive finite number, got -1

Strings are strings, integers are integers (not booleans, not floats), numbers are finite, a
mapping holds only the fields it may (an unknown one gets a "did you mean"). The classes of
result.py, cases.py and stats.py read themselves with these; measure/session.py's load_run is
where a file comes in.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rooflint.errors import SpecError
from rooflint.specs import fields as fields_

MAX_INT = 2**53  # the largest integer a float holds exactly: no size, count or shape of a run is near it


@dataclass(frozen=True, slots=True)
class At:
    """Where a value sits: the file it came from and its path inside (`measurements[3].stats`)."""

    source: str
    path: str = ""

    def key(self, name: str) -> At:
        return At(self.source, f"{self.path}.{name}" if self.path else name)

    def index(self, i: int) -> At:
        return At(self.source, f"{self.path}[{i}]")

    def error(self, message: str) -> SpecError:
        return SpecError(self.source, self.path or None, message)


def shown(value: Any, limit: int = 60) -> str:
    """A value as JSON spells it (true, null, "text"), cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", str: "text", int: "an integer", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    """What a wrong value was: a scalar as JSON spells it (-1, true, null, "fast"), else its kind and a glimpse."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return shown(value)
    return f"{_kind(value)} {shown(value)}"


def fields(value: Any, at: At, required: Iterable[str], optional: Iterable[str] = ()) -> Mapping[str, Any]:
    """A mapping with every required field and no field but the required and optional ones."""
    if not isinstance(value, Mapping):
        raise at.error(f"expected a mapping of fields, got {_kind(value)}")
    required, allowed = tuple(required), {*required, *optional}
    for k in value:
        if not isinstance(k, str):
            raise at.error(f"expected text keys, got {shown(k)}")
        if k not in allowed:
            close = [a for a in sorted(allowed) if a.lower() == k.lower()] or \
                difflib.get_close_matches(k, sorted(allowed), n=1)
            prefix = f"{at.path}." if at.path else ""
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; expected {', '.join(sorted(allowed))}"
            raise at.key(k).error(f"unknown field{hint}")
    for k in required:
        if k not in value:
            raise at.key(k).error("missing")
    return value


def mapping(value: Any, at: At) -> Mapping[str, Any]:
    """A mapping with text keys (any keys)."""
    if not isinstance(value, Mapping):
        raise at.error(f"expected a mapping, got {_kind(value)}")
    for k in value:
        if not isinstance(k, str):
            raise at.error(f"expected text keys, got {shown(k)}")
    return value


def sequence(value: Any, at: At) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise at.error(f"expected a list, got {_kind(value)}")
    return list(value)


def text(value: Any, at: At, choices: Iterable[str] | None = None, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise at.error(f"expected text, got {_got(value)}")
    if choices is not None:
        allowed = tuple(choices)
        if value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            listed = ", ".join(repr(c) if c == "" else c for c in allowed)
            raise at.error(f"expected one of {listed}, got {shown(value)}{hint}")
    elif not empty and not value.strip():
        raise at.error("expected text, got an empty string")
    return value


def name(value: Any, at: At) -> str:
    """A name, by a spec's rule (specs/fields.py: non-empty, short, no control characters): a
    device name becomes a profile's device_names and its description."""
    text(value, at, empty=False)
    return fields_.name(at.source, at.path or None, value)


def integer(value: Any, at: At, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """An integer in [minimum, maximum]: not a boolean, not a float (not even 3.0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.error(f"expected {_int_words(minimum)}, got {_got(value)}")
    if not minimum <= value <= maximum:
        raise at.error(f"expected {_int_words(minimum)} of at most {maximum:,}, got {shown(value)}"
                       if value > maximum else f"expected {_int_words(minimum)}, got {shown(value)}")
    return value


def _int_words(minimum: int) -> str:
    return {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")


def number(value: Any, at: At, zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with zero=True), as a float; an integer is a number, a boolean is not."""
    words = "a non-negative finite number" if zero else "a positive finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise at.error(f"expected {words}, got {_got(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise at.error(f"expected {words}, got {shown(value)}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not zero):
        raise at.error(f"expected {words}, got {shown(value)}")
    return x


def boolean(value: Any, at: At) -> bool:
    if not isinstance(value, bool):
        raise at.error(f"expected true or false, got {_got(value)}")
    return value


def optional(value: Any, at: At, check, *args: Any, **kwargs: Any) -> Any:
    """None as it is, anything else through `check`."""
    return None if value is None else check(value, at, *args, **kwargs)


def plain(value: Any, at: At) -> Any:
    """A JSON value (text, finite number, boolean, null, lists and text-keyed mappings of those),
    checked without recursion; returned as it is."""
    stack = [(value, at)]
    while stack:
        v, where = stack.pop()
        if v is None or isinstance(v, (str, bool, int)):
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                raise where.error(f"expected a finite number, got {shown(v)}")
        elif isinstance(v, Mapping):
            mapping(v, where)
            stack.extend((x, where.key(k)) for k, x in v.items())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, where.index(i)) for i, x in enumerate(v))
        else:
            raise where.error(f"expected a JSON value, got {_kind(v)}")
    return value
