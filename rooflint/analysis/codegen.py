"""Expressions compiled to Python: one function per distinct source text, over Python numbers or
numpy arrays that broadcast. Integer arithmetic stays exact: ceil and floor of a quotient become
integer floor division, Python ints never round."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from rooflint.analysis.expr import Add, Call, Const, Div, Expr, Mul, Neg, Pow, Sym
from rooflint.analysis.floor_sum import floor_sum_array, floor_sum_value


def _code(e: Expr, names: Mapping[str, str]) -> str:
    if isinstance(e, Const):
        v = e.value
        if isinstance(v, Fraction):
            return f"({v.numerator}/{v.denominator})"
        return f"({v!r})" if v < 0 else repr(v)
    if isinstance(e, Sym):
        return names.get(e.name, e.name)
    if isinstance(e, Add):
        return "(" + " + ".join(_code(a, names) for a in e.args) + ")"
    if isinstance(e, Mul):
        return "(" + "*".join(_code(a, names) for a in e.args) + ")"
    if isinstance(e, Div):
        return f"({_code(e.num, names)}/{_code(e.den, names)})"
    if isinstance(e, Neg):
        return f"(-{_code(e.arg, names)})"
    if isinstance(e, Pow):
        return f"({_code(e.base, names)}**{_code(e.exp, names)})"
    if isinstance(e, Call):
        if e.fn in ("ceil", "floor") and isinstance(e.args[0], Div):
            num, den = _code(e.args[0].num, names), _code(e.args[0].den, names)
            # exact for whole numbers of any size; float floor division for arrays of floats
            return f"(-((-{num})//{den}))" if e.fn == "ceil" else f"({num}//{den})"
        args = ", ".join(_code(a, names) for a in e.args)
        return f"_{e.fn}({args})"
    raise TypeError(type(e).__name__)


def _np_extremum(fn):
    def apply(*args):
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out
    return apply


def _namespace(numpy: bool) -> dict[str, Any]:
    if not numpy:
        return {"_min": min, "_max": max, "_ceil": math.ceil, "_floor": math.floor,
                "_floor_sum": lambda n, m, a, b: floor_sum_value(int(n), int(m), int(a), int(b))}
    import numpy as np

    return {"_min": _np_extremum(np.minimum), "_max": _np_extremum(np.maximum), "_ceil": np.ceil,
            "_floor": np.floor, "_floor_sum": floor_sum_array}


_COMPILED: dict[tuple[str, bool], Callable[..., tuple]] = {}


def compile_function(outputs: Sequence[Expr], args: Sequence[str],
                     defs: Sequence[tuple[str, Expr]] = (), *, numpy: bool = False) -> Callable[..., tuple]:
    """A Python function of `args` returning the tuple of `outputs`, after the assignments
    `defs` (name = expression, in order). Compiled once per distinct source text."""
    lines = [f"def _f({', '.join(args)}):"]
    lines += [f"    {name} = {_code(e, {})}" for name, e in defs]
    lines.append(f"    return ({''.join(_code(o, {}) + ', ' for o in outputs)})")
    source = "\n".join(lines)
    key = (source, numpy)
    fn = _COMPILED.get(key)
    if fn is None:
        scope = dict(_namespace(numpy))
        exec(compile(source, "<rooflint expression>", "exec"), scope)  # noqa: S102 - our own generated code
        fn = _COMPILED[key] = scope["_f"]
    return fn
