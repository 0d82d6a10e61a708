"""The exact piecewise quasi-polynomial form of an expression in one whole-number symbol: equal to
the expression at every point, and its closed-form sum equal to the step-by-step sum."""

import random
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint.analysis.expr import ceil, emax, emin, floor, floor_sum, sym
from rooflint.analysis.polynomial import Series, quasi_polynomial
from rooflint.analysis.quasi import positive, runs, sign_runs

n, c, w = sym("n c w")


def _random_expr(rng, depth=0):
    """Expressions of the kinds rooflint's ops use: polynomials, floors and ceilings of linear
    terms, min/max, floor_sums with linear counts and offsets."""
    leaf = lambda: rng.choice([n, n, rng.randint(-5, 9), c])  # noqa: E731
    if depth > 2:
        return leaf()
    kind = rng.randrange(7)
    if kind == 0:
        return _random_expr(rng, depth + 1) + _random_expr(rng, depth + 1)
    if kind == 1:
        return rng.randint(-3, 3) * _random_expr(rng, depth + 1) + leaf()
    if kind == 2:
        return floor((rng.randint(1, 5) * n + rng.randint(-20, 20)) / rng.choice([3, 7, 16, 160]))
    if kind == 3:
        return ceil((rng.randint(-4, 4) * n + c) / rng.choice([2, 5, 64]))
    if kind == 4:
        return emin(_random_expr(rng, depth + 1), _random_expr(rng, depth + 1))
    if kind == 5:
        return emax(n * n - rng.randint(0, 900), rng.randint(1, 40) * n)
    return floor_sum(emax(floor((n + rng.randint(0, 9)) / rng.choice([2, 8])), 0), rng.choice([5, 16]),
                     rng.randint(0, 9), rng.randint(0, 7) + rng.randint(0, 3) * n)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**6), st.integers(-40, 400), st.sampled_from([3, 30, 300]))
def test_form_equals_the_expression_and_its_sum(seed, lo, width):
    rng = random.Random(seed)
    e = _random_expr(rng)
    values = {"c": rng.randint(1, 50)}
    q = quasi_polynomial(e, "n", lo, lo + width, values)
    points = [e.evaluate({**values, "n": k}) for k in range(lo, lo + width + 1)]
    assert [q.at(k) for k in range(lo, lo + width + 1)] == points
    assert q.total() == sum(points)
    assert Series("n", lo, lo + width, e).value(values) == sum(points)


@settings(max_examples=150, deadline=None)
@given(st.tuples(*[st.fractions(-10**6, 10**6, max_denominator=50)] * 3), st.integers(-100, 2000),
       st.integers(0, 300), st.sampled_from([1, 2, 7]), st.integers(0, 6))
def test_sign_runs_match_every_integer(g, lo, width, m, r):
    poly = tuple(x for x in g)
    r = r % m
    out = sign_runs(poly, lo, lo + width, m, r)
    assert out[0][0] == lo and out[-1][1] == lo + width
    assert all(x[1] + 1 == y[0] for x, y in zip(out, out[1:]))
    value = lambda k: g[0] + g[1] * k + g[2] * k * k  # noqa: E731
    for a, b, pos in out:
        assert all((value(k) > 0) == pos for k in range(a, b + 1) if k % m == r)


def test_quadratic_with_two_crossings():
    g = (Fraction(1000 * 1200), Fraction(-2200), Fraction(1))  # (n - 1000)(n - 1200)
    assert sign_runs(g, 1, 10**6) == [(1, 999, True), (1000, 1200, False), (1201, 10**6, True)]


def test_indicator_runs_and_count():
    e = 3 * n - 50 + 7 * floor(n / 4)
    ind = positive(quasi_polynomial(e, "n", 1, 40))
    assert runs(ind) == [(1, 11, False), (12, 40, True)]
    assert ind.total() == sum(1 for k in range(1, 41) if 3 * k - 50 + 7 * (k // 4) > 0)


def test_a_billion_terms_in_closed_form():
    e = emin(floor(n / 1026), 264) * n + ceil(n / 160) ** 2
    q = quasi_polynomial(e, "n", 1, 10**9)
    lo = 10**9 - 5000
    assert q.total(lo, 10**9) == sum(e.evaluate({"n": k}) for k in range(lo, 10**9 + 1))
