"""The option types every command shares: text from the command line parsed into values, with
errors that name the option. Each type has the metavar `--help` shows.

    COUNT     a whole number, k = 1024 as context sizes are quoted: 4096, 4k, 32K
    COUNTS    a comma list of COUNTs: 1k,4k,32k
    SIZE      bytes with a unit: 40GiB, 80 GB
    TIME      seconds, or a time with its unit: 90, 90s, 250ms, 2min
    DTYPE     fp32, tf32, fp16, bf16, fp8, int8, int4
    FRACTION  a share in (0, 1]: 0.9
    NAMES     a comma list of built-in names or spec files, or all
"""

from __future__ import annotations

import math

from rooflint.dtypes import DType, dtype
from rooflint.errors import SpecError
from rooflint.units import UnitParseError, parse_count, parse_quantity

COUNT, COUNTS, SIZE, TIME, DTYPE, FRACTION, NAMES, TILE = ("COUNT", "COUNTS", "SIZE", "TIME", "DTYPE", "FRACTION",
                                                          "NAMES", "B_R,B_C")


def whole(text: str | None, option: str, low: int = 1) -> int | None:
    """A whole number >= low ('4k' = 4096); None passes through (the default applies)."""
    if text is None:
        return None
    stripped = str(text).strip()
    try:
        value = -parse_count(stripped[1:]) if stripped.startswith("-") else parse_count(stripped)
    except UnitParseError as exc:
        raise SpecError(option, None, str(exc)) from None
    if value < low:
        raise SpecError(option, None, f"expected {'a positive number' if low == 1 else f'a number >= {low}'}, "
                        f"got {text}")
    return value


def counts(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    values = [whole(part, option) for part in str(text).split(",") if part.strip()]
    if not values:
        raise SpecError(option, None, f"expected a comma list of counts such as 1k,4k, got {text!r}")
    return values


def _parsed(text: str, dimension: str, option: str) -> float:
    try:
        return parse_quantity(text, dimension)
    except UnitParseError as exc:
        raise SpecError(option, None, str(exc)) from None


def _positive(value: float, text: str, option: str, what: str) -> float:
    if not 0 < value < math.inf:
        raise SpecError(option, None, f"expected a positive {what}, got {text}")
    return value


def size(text: str | None, option: str) -> float | None:
    return None if text is None else _positive(_parsed(text, "bytes", option), text, option, "size")


def seconds(text: str | None, option: str) -> float | None:
    """A plain number of seconds, or a quantity such as '90 s', '250 ms' or '2 min'."""
    if text is None:
        return None
    stripped = text.strip()
    try:
        value = float(stripped[:-3]) * 60 if stripped.endswith("min") else float(stripped)
    except ValueError:
        value = _parsed(stripped, "seconds", option)
    return _positive(value, text, option, "time")


def fraction(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SpecError(option, None, f"expected a fraction such as 0.9, got {text!r}") from None
    if not 0 < value <= 1:
        raise SpecError(option, None, f"expected a fraction in (0, 1], got {text}")
    return value


def dtype_name(text: str | None, option: str) -> DType | None:
    return None if text is None else dtype(text, option)


def dtype_names(text: str, option: str) -> list[DType]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise SpecError(option, None, f"expected a comma list of dtypes, got {text!r}")
    return [dtype(n, option) for n in names]


def choice(text: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value not in allowed:
        raise SpecError(option, None, f"expected {' or '.join(allowed)}, got {text!r}")
    return value


def choices(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    values = [choice(part, allowed, option) for part in text.split(",") if part.strip()]
    if not values:
        raise SpecError(option, None, f"expected {', '.join(allowed)} or a comma list of them, got {text!r}")
    return values


def tile(text: str | None, option: str) -> tuple[int, int] | None:
    if text is None:
        return None
    values = counts(text, option)
    if len(values) != 2:
        raise SpecError(option, None, f"expected two sizes B_r,B_c, got {text!r}")
    return values[0], values[1]


def names(text: str, option: str) -> list[str]:
    out = [n.strip() for n in text.split(",") if n.strip()]
    if not out:
        raise SpecError(option, None, "expected a comma list of names, or all")
    return out


def overrides(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", pair, "expected FIELD=VALUE, e.g. num_key_value_heads=8")
        if key.strip() in out:
            raise SpecError("--set", key.strip(), "given twice")
        out[key.strip()] = value.strip()
    return out


def bandwidth(text: str | None, option: str) -> float | None:
    """A bandwidth with its unit: 50GB/s, 400 Gb/s is not one (bytes, not bits)."""
    return None if text is None else _positive(_parsed(text, "bytes_per_s", option), text, option, "bandwidth")
