"""Expressions: the symbols and operators of rooflint's formulas, as objects.

``2 * T * D * H_q * d`` built from `Sym` objects is an expression tree. It renders with the
parentheses its structure needs (``a / (b * c)``, ``a - (b + c)``), lists its symbols, binds
some of them to numbers (folding constants: ``bind`` turns ``2*T*D`` with D = 4096 into
``8192*T``), evaluates over Python numbers or numpy arrays (compiled once to Python by `codegen`), and (in
`polynomial`) gives its exact piecewise quasi-polynomial form in one symbol.

Operators: + - * / ** (an integer power or a symbolic exponent), min, max, ceil, floor and
floor_sum(n, m, a, b) = sum over j = 0..n-1 of floor((a*j + b) / m), the Euclid-like sum that
exact tile geometry needs. Integer arithmetic stays exact: ceil and floor of a quotient compile
to integer floor division, constants fold as ints or Fractions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Union

from rooflint.analysis.floor_sum import floor_sum_array, floor_sum_value

Number = Union[int, float, Fraction]

# Rendering precedence: a child is parenthesized when it binds more loosely than its parent.
_ADD, _MUL, _NEG, _POW, _ATOM = 10, 20, 30, 40, 50


class Expr:
    """Base of every node. Python operators build new nodes (numbers are wrapped as constants)."""

    __slots__ = ()
    prec = _ATOM

    # Python's operators build nodes; numbers on either side become constants.
    __add__ = lambda self, o: add(self, o)  # noqa: E731
    __radd__ = lambda self, o: add(o, self)  # noqa: E731
    __sub__ = lambda self, o: add(self, neg(wrap(o)))  # noqa: E731
    __rsub__ = lambda self, o: add(o, neg(self))  # noqa: E731
    __mul__ = lambda self, o: mul(self, o)  # noqa: E731
    __rmul__ = lambda self, o: mul(o, self)  # noqa: E731
    __truediv__ = lambda self, o: div(self, o)  # noqa: E731
    __rtruediv__ = lambda self, o: div(o, self)  # noqa: E731
    __pow__ = lambda self, o: power(self, o)  # noqa: E731
    __rpow__ = lambda self, o: power(o, self)  # noqa: E731
    __neg__ = lambda self: neg(self)  # noqa: E731

    # --- what a node is made of (each subclass says) ---
    def children(self) -> tuple[Expr, ...]:
        return ()

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return self

    # --- derived behaviour ---
    def symbols(self) -> tuple[str, ...]:
        """Names of the symbols, in order of first appearance."""
        seen: dict[str, None] = {}
        _collect(self, seen)
        return tuple(seen)

    def render(self, values: Mapping[str, Number] | None = None) -> str:
        """The formula as text; with `values`, those symbols shown as their numbers."""
        return _render(self, values or {})

    def __str__(self) -> str:
        return _render(self, {})

    def __repr__(self) -> str:
        return f"Expr({_render(self, {})})"

    def substitute(self, values: Mapping[str, Any]) -> Expr:
        """Replace symbols by numbers or expressions, folding what becomes constant. A subtree
        shared by several parents stays shared (one object) in the result."""
        return _substitute(self, {k: wrap(v) for k, v in values.items()}, {})

    bind = substitute

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value for these symbol values (numbers, or numpy arrays that broadcast). An
        interpreter for one-off values; codegen.compile_function for the hot paths."""
        missing = [n for n in self.symbols() if n not in values]
        if missing:
            raise KeyError(f"no value for {', '.join(missing)} in {self}")
        return _interpret(self, values)


class Const(Expr):
    __slots__ = ("value",)

    def __init__(self, value: Number):
        self.value = value

    @property
    def prec(self) -> int:  # type: ignore[override]
        v = self.value
        if isinstance(v, Fraction) and v.denominator != 1:
            return _MUL - 1  # shown as p/q: parenthesized inside a product
        return _NEG if v < 0 else _ATOM


class Sym(Expr):
    __slots__ = ("name",)

    def __init__(self, name: str):
        if not name.isidentifier():
            raise ValueError(f"symbol names are identifiers, not {name!r}")
        self.name = name


class _Node(Expr):
    """An operator over its arguments; `build` makes the node again from new ones (folding)."""

    __slots__ = ("args",)

    def __init__(self, *args: Expr):
        self.args = args

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return type(self).build(*children)


class Add(_Node):
    __slots__ = ()
    prec = _ADD
    build = staticmethod(lambda *a: add(*a))


class Mul(_Node):
    __slots__ = ()
    prec = _MUL
    build = staticmethod(lambda *a: mul(*a))


class Div(_Node):
    __slots__ = ()
    prec = _MUL
    build = staticmethod(lambda a, b: div(a, b))
    num = property(lambda self: self.args[0])
    den = property(lambda self: self.args[1])


class Neg(_Node):
    __slots__ = ()
    prec = _NEG
    build = staticmethod(lambda a: neg(a))
    arg = property(lambda self: self.args[0])


class Pow(_Node):
    __slots__ = ()
    prec = _POW
    build = staticmethod(lambda a, b: power(a, b))
    base = property(lambda self: self.args[0])
    exp = property(lambda self: self.args[1])


class Call(_Node):
    """min, max, ceil, floor or floor_sum of its arguments."""

    __slots__ = ("fn",)

    def __init__(self, fn: str, args: tuple[Expr, ...]):
        self.fn, self.args = fn, args

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return _FUNCTIONS[self.fn](*children)


# ------------------------------------------------------------------ construction (folding)

def wrap(x: Any) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float, Fraction)):
        raise TypeError(f"not a number or an expression: {x!r}")
    return Const(_normal(x))


def _normal(v: Number) -> Number:
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v)
    return v


def sym(names: str) -> Sym | tuple[Sym, ...]:
    """`sym("B")` is one symbol; `sym("B T S_q")` a tuple of them."""
    parts = names.split()
    return Sym(parts[0]) if len(parts) == 1 else tuple(Sym(p) for p in parts)


def add(*terms: Any) -> Expr:
    flat: list[Expr] = []
    total: Number = 0
    where = -1
    for t in map(wrap, terms):
        for u in (t.args if isinstance(t, Add) else (t,)):
            if isinstance(u, Const):
                if where < 0:
                    where = len(flat)
                total = total + u.value
            else:
                flat.append(u)
    if not flat:
        return Const(_normal(total))
    if total != 0:
        flat.insert(where, Const(_normal(total)))
    return flat[0] if len(flat) == 1 else Add(*flat)


def mul(*factors: Any) -> Expr:
    flat: list[Expr] = []
    coeff: Number = 1
    for f in map(wrap, factors):
        for u in (f.args if isinstance(f, Mul) else (f,)):
            if isinstance(u, Const):
                coeff = coeff * u.value
            elif isinstance(u, Neg):
                coeff = -coeff
                flat.extend(u.arg.args if isinstance(u.arg, Mul) else (u.arg,))
            else:
                flat.append(u)
    coeff = _normal(coeff)
    if coeff == 0 or not flat:
        return Const(coeff)
    if coeff == -1:
        return Neg(flat[0] if len(flat) == 1 else Mul(*flat))
    if coeff != 1:
        flat.insert(0, Const(coeff))
    return flat[0] if len(flat) == 1 else Mul(*flat)


def neg(x: Any) -> Expr:
    x = wrap(x)
    if isinstance(x, Const):
        return Const(-x.value)
    if isinstance(x, Neg):
        return x.arg
    if isinstance(x, Mul) and isinstance(x.args[0], Const):
        return mul(-x.args[0].value, *x.args[1:])
    return Neg(x)


def div(a: Any, b: Any) -> Expr:
    a, b = wrap(a), wrap(b)
    if isinstance(b, Const):
        if b.value == 0:
            raise ZeroDivisionError(f"{a} / 0")
        if b.value == 1:
            return a
        if isinstance(a, Const):
            return Const(_quotient(a.value, b.value))
    if isinstance(a, Const) and a.value == 0:
        return Const(0)
    return Div(a, b)


def _quotient(x: Number, y: Number) -> Number:
    if isinstance(x, float) or isinstance(y, float):
        return x / y
    return _normal(Fraction(x) / Fraction(y))


def power(a: Any, b: Any) -> Expr:
    a, b = wrap(a), wrap(b)
    if isinstance(b, Const):
        if b.value == 0:
            return Const(1)
        if b.value == 1:
            return a
        if isinstance(a, Const):
            if isinstance(b.value, int) and not isinstance(a.value, float):
                return Const(_normal(Fraction(a.value) ** b.value))
            return Const(a.value ** b.value)
    return Pow(a, b)


def _extremum(fn: str, pick: Callable[..., Number], args: tuple[Any, ...]) -> Expr:
    flat: list[Expr] = []
    consts: list[Number] = []
    for a in map(wrap, args):
        for u in (a.args if isinstance(a, Call) and a.fn == fn else (a,)):
            (consts.append(u.value) if isinstance(u, Const) else flat.append(u))
    if consts:
        flat.append(Const(pick(consts)))
    if not flat:
        raise ValueError(f"{fn}() of nothing")
    return flat[0] if len(flat) == 1 else Call(fn, tuple(flat))


def emin(*args: Any) -> Expr:
    return _extremum("min", min, args)


def emax(*args: Any) -> Expr:
    return _extremum("max", max, args)


def _rounded(fn: str, pick: Callable[[Number], int], x: Any) -> Expr:
    x = wrap(x)
    if isinstance(x, Const):
        return Const(pick(x.value))
    if isinstance(x, Call) and x.fn in ("ceil", "floor", "floor_sum"):
        return x  # whole already
    return Call(fn, (x,))


def ceil(x: Any) -> Expr:
    return _rounded("ceil", math.ceil, x)


def floor(x: Any) -> Expr:
    return _rounded("floor", math.floor, x)


def floor_sum(n: Any, m: Any, a: Any, b: Any) -> Expr:
    """sum_{j=0}^{n-1} floor((a*j + b) / m), for whole n >= 0, m >= 1, a >= 0 and any whole b."""
    args = tuple(map(wrap, (n, m, a, b)))
    if all(isinstance(x, Const) for x in args):
        return Const(floor_sum_value(*(int(x.value) for x in args)))
    if isinstance(args[0], Const) and args[0].value == 0:
        return Const(0)
    return Call("floor_sum", args)


_FUNCTIONS: dict[str, Callable[..., Expr]] = {"min": emin, "max": emax, "ceil": ceil, "floor": floor,
                                               "floor_sum": floor_sum}


# ------------------------------------------------------------------ traversal

def _collect(e: Expr, seen: dict[str, None]) -> None:
    if isinstance(e, Sym):
        seen.setdefault(e.name, None)
    for c in e.children():
        _collect(c, seen)


def _substitute(e: Expr, values: Mapping[str, Expr], memo: dict[int, tuple[Expr, Expr]]) -> Expr:
    if isinstance(e, Sym):
        return values.get(e.name, e)
    kids = e.children()
    if not kids:
        return e
    done = memo.get(id(e))
    if done is not None:
        return done[1]
    new = tuple(_substitute(c, values, memo) for c in kids)
    out = e if all(n is o for n, o in zip(new, kids)) else e.rebuild(new)
    memo[id(e)] = (e, out)  # the node is kept so its id stays its own
    return out


def replace_symbols(e: Expr, env: Mapping[str, Expr], memo: dict | None = None) -> Expr:
    """substitute() for a mapping whose values are expressions already (no wrapping: hot paths).
    A caller substituting many expressions under the same mapping passes one memo for all, so a
    subtree they share is rebuilt once."""
    return _substitute(e, env, {} if memo is None else memo)


# ------------------------------------------------------------------ rendering

def format_number(v: Number) -> str:
    """Ints as digits, whole floats without '.0', other floats by their shortest repr."""
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 2**63:
            return str(int(v))
        return repr(v)
    return str(v)


def _render(e: Expr, values: Mapping[str, Number]) -> str:
    if isinstance(e, Const):
        return format_number(e.value)
    if isinstance(e, Sym):
        if e.name in values:
            return format_number(values[e.name])
        return e.name
    if isinstance(e, Add):
        out = _render_child(e.args[0], _ADD, values)
        for t in e.args[1:]:
            if isinstance(t, Neg):
                out += " - " + _render_child(t.arg, _ADD + 1, values)
            elif isinstance(t, Const) and t.value < 0:
                out += " - " + format_number(-t.value)
            elif isinstance(t, Mul) and isinstance(t.args[0], Const) and t.args[0].value < 0:
                out += " - " + _render_child(neg(t), _ADD + 1, values)
            else:
                out += " + " + _render_child(t, _ADD, values)
        return out
    if isinstance(e, Mul):
        parts = []
        for i, f in enumerate(e.args):
            negative_const = isinstance(f, Const) and f.value < 0
            if i and (isinstance(f, Neg) or negative_const):
                parts.append("(" + _render(f, values) + ")")
            else:
                parts.append(_render_child(f, _MUL if i == 0 or not isinstance(f, Div) else _MUL + 1, values))
        return "*".join(parts)
    if isinstance(e, Div):
        return _render_child(e.num, _MUL, values) + "/" + _render_child(e.den, _MUL + 1, values)
    if isinstance(e, Neg):
        return "-" + _render_child(e.arg, _MUL, values)
    if isinstance(e, Pow):
        return _render_child(e.base, _ATOM, values) + "**" + _render_child(e.exp, _ATOM, values)
    if isinstance(e, Call):
        return f"{e.fn}(" + ", ".join(_render(a, values) for a in e.args) + ")"
    raise TypeError(type(e).__name__)


def _render_child(e: Expr, parent: int, values: Mapping[str, Number]) -> str:
    text = _render(e, values)
    prec = e.prec
    if isinstance(e, Sym) and e.name in values:
        v = values[e.name]
        prec = _ADD if v < 0 else (_MUL - 1 if isinstance(v, Fraction) and v.denominator != 1 else _ATOM)
    return f"({text})" if prec < parent else text


def _interpret(e: Expr, values: Mapping[str, Any]) -> Any:
    if isinstance(e, Const):
        return float(e.value) if isinstance(e.value, Fraction) else e.value
    if isinstance(e, Sym):
        return values[e.name]
    if isinstance(e, Call) and e.fn in ("ceil", "floor") and isinstance(e.args[0], Div):
        num, den = (_interpret(c, values) for c in e.args[0].args)  # whole quotients: exact integer division
        return -((-num) // den) if e.fn == "ceil" else num // den
    args = [_interpret(c, values) for c in e.children()]
    arrays = any(hasattr(x, "shape") for x in args)
    if isinstance(e, Call) and arrays:
        import numpy as np  # only when the values are arrays already

        fn = {"min": np.minimum, "max": np.maximum, "ceil": np.ceil, "floor": np.floor}.get(e.fn)
        if fn is None:
            return floor_sum_array(*args)
        return functools.reduce(fn, args) if e.fn in ("min", "max") else fn(args[0])
    if isinstance(e, Call):
        fn = {"min": min, "max": max, "ceil": math.ceil, "floor": math.floor}.get(e.fn)
        return floor_sum_value(*map(int, args)) if fn is None else fn(*args)
    return functools.reduce(_OPERATIONS[type(e)], args) if len(args) > 1 else -args[0]


_OPERATIONS = {Add: lambda x, y: x + y, Mul: lambda x, y: x * y, Div: lambda x, y: x / y, Pow: lambda x, y: x ** y}
