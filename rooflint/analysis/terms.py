"""Terms: every figure rooflint prints, as its value, unit, the expression that computed it and
the values bound to that expression's symbols.

A `Figure` is a figure's definition (its JSON key, expression, unit); `evaluate_figures` binds
a list of them in order, a figure's symbol being the last part of its key, so a later figure
can be built from earlier ones (`kv_cache_bytes = B*kv_cache_bytes_per_sequence`). Reports
arrange terms and never compute one.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import Expr, Sym, wrap

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


@dataclass(slots=True, eq=False)
class _Sequence:
    """A list of figures compiled as one function: each figure an assignment the later ones read."""

    figures: tuple[Figure, ...]
    keys: tuple[str, ...]
    symbols: tuple[str, ...]
    names: tuple[tuple[str, ...], ...]  # each figure's symbols
    inputs: tuple[str, ...]  # the symbols read before a figure of the list defines them
    fns: list  # [for numbers, for arrays], compiled on first use


_SEQUENCES: dict[tuple[int, ...], _Sequence] = {}


def _sequence(figures: Iterable[Figure]) -> _Sequence:
    figs = tuple(figures)
    key = tuple(map(id, figs))
    seq = _SEQUENCES.get(key)  # the entry keeps its figures alive, so their ids stay theirs
    if seq is None:
        if len(_SEQUENCES) > 4096:
            _SEQUENCES.clear()
        defined: set[str] = set()
        inputs: dict[str, None] = {}
        names = []
        for f in figs:
            used = f.expr.symbols()
            names.append(used)
            inputs.update((n, None) for n in used if n not in defined)
            defined.add(f.symbol)
        seq = _SEQUENCES[key] = _Sequence(figs, tuple(f.key for f in figs), tuple(f.symbol for f in figs),
                                          tuple(names), tuple(inputs), [None, None])
    return seq


def _results(seq: _Sequence, values: Mapping[str, Any]) -> tuple:
    try:
        args = [values[n] for n in seq.inputs]
    except KeyError:
        f, names = next((f, names) for f, names in zip(seq.figures, seq.names)
                        if any(n not in values and n in seq.inputs for n in names))
        missing = [n for n in names if n not in values and n in seq.inputs]
        raise KeyError(f"{f.key}: no value for {', '.join(missing)}") from None
    arrays = any(hasattr(a, "shape") for a in args)
    fn = seq.fns[arrays]
    if fn is None:
        defs = []
        for i, (f, symbol) in enumerate(zip(seq.figures, seq.symbols)):
            defs.append((f"_t{i}", f.expr))
            if symbol.isidentifier() and not keyword.iskeyword(symbol):
                defs.append((symbol, Sym(f"_t{i}")))
        outputs = [Sym(f"_t{i}") for i in range(len(seq.figures))]
        fn = seq.fns[arrays] = compile_function(outputs, seq.inputs, defs, numpy=arrays)
    return fn(*args)


def evaluate_figures(figures: Iterable[Figure], values: Mapping[str, Any]) -> list[Term]:
    """Each figure evaluated in order with the given symbol values (numbers, or numpy arrays that
    broadcast) and the figures before it; the list is compiled once as one function."""
    seq = _sequence(figures)
    env = dict(values)
    out = []
    for f, symbol, names, value in zip(seq.figures, seq.symbols, seq.names, _results(seq, values)):
        out.append(Term(f.key, f.expr, {n: env[n] for n in names}, value, f.unit, f.note))
        env[symbol] = value
    return out


def figure_values(figures: Iterable[Figure], values: Mapping[str, Any]) -> dict[str, Any]:
    """The same figures' values by key, without their terms: for reading a figure, not explaining it."""
    seq = _sequence(figures)
    return dict(zip(seq.keys, _results(seq, values)))


def by_key(terms: Iterable[Term]) -> dict[str, Term]:
    return {t.key: t for t in terms}
