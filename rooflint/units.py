"""Quantities with units: strict parsing at the edges, human formatting for reports.

Conventions (stated once): memory sizes are binary when written with an ``i`` (KiB = 2**10 B)
and decimal otherwise (GB = 1e9 B); rates are decimal as datasheets print them
(TFLOP/s = 1e12 FLOP/s, GB/s = 1e9 B/s). A value with the wrong dimension or no unit is an
error, never a guess. Everything inside rooflint is in base units: bytes, FLOP, seconds.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}

# dimension name -> regex of the unit (after the prefix) and a description for messages
_DIMENSIONS = {
    "bytes": (r"B", "a size such as '40 GiB' or '80 GB'"),
    "bytes_per_s": (r"B/s", "a bandwidth such as '1555 GB/s' or '3.35 TB/s'"),
    "flop_per_s": (r"(?:FLOP/s|FLOPS|OP/s|OPS)", "a rate such as '312 TFLOP/s' or '624 TOP/s'"),
    "watts": (r"W", "a power such as '400 W'"),
    "flop": (r"FLOP", "a count of operations such as '2.1 GFLOP'"),
    "seconds": (r"s", "a time such as '4.5 us' or '1.2 ms'"),
}
# Sub-unit prefixes, accepted for times only ('ms' is a millisecond, never a megasecond).
_SMALL = {"m": 1e3, "u": 1e6, "µ": 1e6, "n": 1e9}  # divisors: 5 / 1e6 is 5e-06 exactly, 5 * 1e-6 is not

# Linear-time patterns (no two adjacent repeats can trade digits), on text of bounded length: a
# number, an optional exponent of at most three digits, a unit.
MAX_TEXT = 64
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(rf"^\s*({_NUMBER}(?:[eE][-+]?[0-9]{{1,3}})?)\s*([A-Za-zµ/]+)\s*$")
MAX_COUNT = 2**53  # beyond this a count is no longer exact in a float


class UnitParseError(ValueError):
    """A quantity string that does not parse as the expected dimension."""


def parse_quantity(text: object, dimension: str) -> float:
    """Parse '312 TFLOP/s' (dimension 'flop_per_s') into 3.12e14; strict about units.

    >>> parse_quantity("1555 GB/s", "bytes_per_s")
    1555000000000.0
    >>> parse_quantity("40 GiB", "bytes")
    42949672960.0
    """
    unit_re, expected = _DIMENSIONS[dimension]
    if isinstance(text, bool) or not isinstance(text, str):
        raise UnitParseError(f"expected {expected} (a number with its unit), got {text!r}")
    if len(text) > MAX_TEXT:
        raise UnitParseError(f"expected {expected}, got {len(text)} characters")
    m = _QUANTITY.match(text)
    if not m:
        raise UnitParseError(f"expected {expected}, got {text!r}")
    number, unit = float(m.group(1)), m.group(2)
    if not math.isfinite(number):
        raise UnitParseError(f"expected {expected}, got {text!r} (not a finite number)")
    if dimension == "seconds":
        divisor = _SMALL.get(unit[:-1], 1.0 if unit == "s" else None)
        if divisor is None or not unit.endswith("s"):
            raise UnitParseError(f"expected {expected}, got unit '{unit}' in {text!r}")
        return number / divisor
    for prefixes in (_BINARY, _DECIMAL):
        for prefix, scale in prefixes.items():
            if re.fullmatch(re.escape(prefix) + unit_re, unit):
                if dimension != "bytes" and prefixes is _BINARY:
                    break  # rates are decimal; a 'GiB/s' bandwidth is refused, not converted
                # exactly, then rounded once: 66.9 TFLOP/s is 66900000000000.0, not ...0.01
                try:
                    return float(Fraction(m.group(1)) * int(scale))
                except OverflowError:
                    raise UnitParseError(f"expected {expected}, got {text!r} (too large)") from None
    raise UnitParseError(f"expected {expected}, got unit '{unit}' in {text!r}")


_COUNT = re.compile(rf"^\s*({_NUMBER})\s*([kKmMgG]?)\s*$")


def parse_count(text: str | int) -> int:
    """Parse a token count such as '4096', '4k' or '32K' (k = 1024, as context sizes are quoted),
    exactly, at most MAX_COUNT.

    >>> parse_count("32k")
    32768
    """
    if isinstance(text, bool):
        raise UnitParseError(f"expected a whole number, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        m = _COUNT.match(text) if isinstance(text, str) and len(text) <= MAX_TEXT else None
        if not m:
            shown = f"{len(text)} characters" if isinstance(text, str) and len(text) > MAX_TEXT else repr(text)
            raise UnitParseError(f"expected a whole number such as 4096 or 32k, got {shown}")
        exact = Fraction(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()]
        if exact.denominator != 1:
            raise UnitParseError(f"expected a whole number, got {text!r}")
        value = int(exact)
    if abs(value) > MAX_COUNT:
        raise UnitParseError(f"expected a count of at most 2**53, got {'-' if value < 0 else ''}{abs(value):.3e}")
    return value


def format_bytes(n: float) -> str:
    """Binary units for sizes: 131072 -> '128 KiB', 536739840 -> '511.9 MiB'."""
    if n == 0:
        return "0 B"
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    exp = min(int(math.log(abs(n), 1024)), len(units) - 1) if abs(n) >= 1 else 0
    value = n / 1024**exp
    return f"{_trim(value)} {units[exp]}"


def format_si(n: float, unit: str) -> str:
    """Decimal prefixes for counts and rates: 6.738e9 -> '6.74 G' + unit."""
    if n == 0:
        return f"0 {unit}"
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")]
    for scale, prefix in prefixes:
        if abs(n) >= scale:
            return f"{_trim(n / scale)} {prefix}{unit}"
    return f"{n:.3g} {unit}"


def format_seconds(s: float) -> str:
    if s == 0:
        return "0 s"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(s) >= scale:
            return f"{_trim(s / scale)} {unit}"
    return f"{_trim(s / 1e-9)} ns"


def _trim(value: float) -> str:
    """Up to four significant figures, no trailing zeros: 128.0 -> '128', 511.875 -> '511.9'."""
    text = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    if "e" in text:
        text = f"{value:.0f}"
    return text
