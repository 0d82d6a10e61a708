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

    def __repr__(self) -> str:  # repr=False above: the generated one would dump the whole tree
        return f"Term({self.key} = {self.expr} = {self.value:.6g} {self.unit})"

    def as_dict(self) -> dict:
        return {"key": self.key, "expr": str(self.expr), "bindings": dict(self.bindings), "value": self.value,
                "unit": self.unit, "note": self.note}


_COMPILED: dict[int, tuple[Figure, tuple[str, ...], list]] = {}


def _compiled(f: Figure) -> tuple[tuple[str, ...], list]:
    """A figure's symbols and its functions [for numbers, for arrays], compiled once each (the
    entry keeps the figure, so its id stays its own)."""
    hit = _COMPILED.get(id(f))
    if hit is None or hit[0] is not f:
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        hit = _COMPILED[id(f)] = (f, f.expr.symbols(), [None, None])
    return hit[1], hit[2]


def evaluate_figures(figures: Iterable[Figure], values: Mapping[str, float]) -> list[Term]:
    """Each figure evaluated in order with the given symbol values (numbers, or numpy arrays that
    broadcast) and the figures before it."""
    env = dict(values)
    out = []
    for f in figures:
        names, fns = _compiled(f)
        try:
            args = [env[n] for n in names]
        except KeyError:
            raise KeyError(f"{f.key}: no value for {', '.join(n for n in names if n not in env)}") from None
        arrays = any(hasattr(a, "shape") for a in args)
        if fns[arrays] is None:
            fns[arrays] = compile_function([f.expr], names, numpy=arrays)
        value = fns[arrays](*args)[0]
        out.append(Term(f.key, f.expr, dict(zip(names, args)), value, f.unit, f.note))
        env[f.symbol] = value
    return out


def by_key(terms: Iterable[Term]) -> dict[str, Term]:
    return {t.key: t for t in terms}
