"""Expressions as objects: rendering with the parentheses the structure needs, folding, and the
same value from the interpreter-free compiled code over Python numbers and numpy arrays."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import ceil, emax, emin, floor, floor_sum, sym
from rooflint.analysis.floor_sum import floor_sum_value

a, b, c, n = sym("a b c n")


@pytest.mark.parametrize("expr, text", [
    (a / (b * c), "a/(b*c)"), (a - (b + c), "a - (b + c)"), ((a + b) * c, "(a + b)*c"), (-(a + b), "-(a + b)"),
    (a * b / c, "a*b/c"), (a**2, "a**2"), ((a + b)**2, "(a + b)**2"), (a - 3 * b, "a - 3*b"),
    (emin(a, b + 1), "min(a, b + 1)"), (ceil(a / b), "ceil(a/b)"), (a * Fraction(1, 3), "(1/3)*a"),
    (2 * a * 3, "6*a"), (a + 0, "a"), (a * 1, "a"), (a * 0, "0"), (1 - (1 - b / a)**c, "1 - (1 - b/a)**c"),
])
def test_rendering(expr, text):
    assert str(expr) == text
    # the text is a Python expression with the same value (min/max/ceil/floor as functions)
    env = {"a": 7, "b": 3, "c": 5, "min": min, "max": max, "ceil": math.ceil, "floor": math.floor}
    assert eval(text, {"__builtins__": {}}, env) == pytest.approx(expr.evaluate({"a": 7, "b": 3, "c": 5}))


def test_binding_folds_constants_and_keeps_exact_integers():
    T, D, H_q, d = sym("T D H_q d")
    e = 2 * T * D * H_q * d
    assert str(e.bind({"D": 4096, "H_q": 32, "d": 128})) == "33554432*T"
    assert e.render({"T": 1, "D": 4096, "H_q": 32, "d": 128}) == "2*1*4096*32*128"
    big = (a * b).evaluate({"a": 10**20, "b": 10**20})
    assert big == 10**40 and isinstance(big, int)
    assert ceil(a / b).evaluate({"a": 10**30 + 1, "b": 10**15}) == 10**15 + 1  # integer division, no float rounding


def test_symbols_in_order():
    assert (b * a + c / a).symbols() == ("b", "a", "c")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 60), st.integers(0, 80), st.integers(-200, 200))
def test_floor_sum_is_the_sum(count, m, k, off):
    assert floor_sum_value(count, m, k, off) == sum((k * j + off) // m for j in range(count))
    assert floor_sum(n, m, k, off).evaluate({"n": count}) == sum((k * j + off) // m for j in range(count))


def test_numpy_arrays_broadcast_like_scalars():
    e = emax(1, emin(ceil(2 * a / (b * c)), floor(a / 256))) + floor_sum(a, 7, 3, b)
    A = np.arange(0, 5000, 37)[:, None]
    Bv = np.array([1, 2, 8])[None, :]
    got = e.evaluate({"a": A, "b": Bv, "c": 4})
    want = np.array([[e.evaluate({"a": int(x), "b": int(y), "c": 4}) for y in Bv[0]] for x in A[:, 0]])
    assert got.shape == (len(A), 3) and (got == want).all()


def test_compiled_function_with_assignments():
    fn = compile_function([a * 2, a + b], ["b"], [("a", b * b)])
    assert fn(3) == (18, 12)
