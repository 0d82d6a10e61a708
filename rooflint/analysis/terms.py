"""Terms: every figure rooflint prints, as its value, unit, the expression that computed it and
the values bound to that expression's symbols.

A `Figure` is a figure's definition (its JSON key, expression, unit); `evaluate_figures` binds
a list of them in order, a figure's symbol being the last part of its key, so a later figure
can be built from earlier ones (`kv_cache_bytes = B*kv_cache_bytes_per_sequence`). Reports
arrange terms and never compute one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import Expr, wrap

UNITS = ("bytes", "flops", "seconds", "per_second", "flop_per_s", "bytes_per_s", "count", "ratio", "fraction")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Figure:
    key: str  # where the value lives in a report's JSON, e.g. "memory.kv_cache_bytes"
    expr: Expr
    unit: str
    note: str = ""

    @property
    def symbol(self) -> str:
        """The name later figures use for this one: the key's last part."""
        return self.key.rsplit(".", 1)[-1].replace("[", "_").replace("]", "")


def figure(key: str, expr, unit: str, note: str = "") -> Figure:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    return Figure(key, wrap(expr), unit, note)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Term:
    """A figure's value with what produced it."""

    key: str
    expr: Expr
    bindings: Mapping[str, float]
    value: float
    unit: str
    note: str = ""

    @property
    def symbol(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    def as_dict(self) -> dict:
        return {"key": self.key, "expr": str(self.expr), "bindings": dict(self.bindings), "value": self.value,
                "unit": self.unit, "note": self.note}


def evaluate_figures(figures: Iterable[Figure], values: Mapping[str, float]) -> list[Term]:
    """Each figure evaluated in order with the given symbol values and the figures before it."""
    env = dict(values)
    out = []
    for f in figures:
        names = f.expr.symbols()
        missing = [n for n in names if n not in env]
        if missing:
            raise KeyError(f"{f.key}: no value for {', '.join(missing)}")
        value = compile_function([f.expr], names)(*(env[n] for n in names))[0]
        out.append(Term(f.key, f.expr, {n: env[n] for n in names}, value, f.unit, f.note))
        env[f.symbol] = value
    return out


def by_key(terms: Iterable[Term]) -> dict[str, Term]:
    return {t.key: t for t in terms}
