"""An expression's exact form in one whole-number symbol n: a piecewise quasi-polynomial.

Over a range lo..hi of n, the value is given per residue class n = r (mod M): on each class a
few segments, each a polynomial in n with Fraction coefficients. Sums, products and quotients by
constants keep that form; floor and ceil of a linear argument are linear again on finer classes
(floor(a*n + b) = a*(n - r) + floor(a*r + b) for n = r mod a multiple of a's denominator);
min and max split a segment where the difference changes sign on the class's integers (found
exactly); floor_sum(n', m, a, b) with n' linear and b constant is a quadratic on classes of
n' mod m / gcd(a, m). So the tile counts of a fused attention kernel, flash-decoding's split count
and sliding windows all have an exact closed form, and a sum over a billion lengths costs what
its pieces cost.

Two things have no such form and are handled exactly by other means: an exponential z**(linear n)
(the experts a MoE batch is expected to hit) is taken point by point while z**e is at least
2**-64, and as 0 beyond, where it is below the resolution of the float evaluation it stands for;
any other node outside the form is taken point by point when the range is short (_POINTWISE_MAX
lengths), and refused otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from rooflint.analysis.expr import Add, Call, Const, Div, Expr, Mul, Neg, Pow, Sym, floor_sum_value

Poly = tuple[Fraction, ...]  # c0 + c1*n + c2*n^2 + ..., no trailing zeros (the zero polynomial is ())
_POINTWISE_MAX = 20_000
_TINY = Fraction(1, 2**64)


class NotQuasiPolynomial(ValueError):
    """The expression has no piecewise quasi-polynomial form over the range asked for."""


# ------------------------------------------------------------------ polynomials in n

def _trim(c: Sequence[Fraction]) -> Poly:
    c = list(c)
    while c and c[-1] == 0:
        c.pop()
    return tuple(c)


def p_const(v) -> Poly:
    return _trim((Fraction(v),))


def p_add(a: Poly, b: Poly) -> Poly:
    n = max(len(a), len(b))
    return _trim([(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)])


def p_scale(a: Poly, k) -> Poly:
    return _trim([x * k for x in a])


def p_mul(a: Poly, b: Poly) -> Poly:
    if not a or not b:
        return ()
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return _trim(out)


def p_at(a: Poly, n) -> Fraction:
    v = Fraction(0)
    for c in reversed(a):
        v = v * n + c
    return v


def p_degree(a: Poly) -> int:
    return len(a) - 1  # -1 for the zero polynomial


def p_compose_linear(a: Poly, m: int, r: int) -> Poly:
    """a(m*q + r) as a polynomial in q."""
    out: Poly = ()
    base = p_const(1)
    lin = _trim((Fraction(r), Fraction(m)))
    for c in a:
        out = p_add(out, p_scale(base, c))
        base = p_mul(base, lin)
    return out


def p_sum(a: Poly, q0: int, q1: int) -> Fraction:
    """sum_{q=q0}^{q1} a(q), exactly: Newton's forward differences at q0 (any degree)."""
    count = q1 - q0 + 1
    if count <= 0 or not a:
        return Fraction(0)
    values = [p_at(a, q0 + i) for i in range(len(a))]
    total, binom = Fraction(0), 1  # binom = C(count, j + 1)
    for j in range(len(a)):
        binom = binom * (count - j) // (j + 1)
        total += binom * values[0]
        values = [y - x for x, y in zip(values, values[1:])]
    return total


# ------------------------------------------------------------------ the piecewise form

@dataclass(frozen=True, slots=True)
class Segment:
    lo: int  # first n of the segment (inclusive); only n of the segment's class count
    hi: int  # last n (inclusive)
    poly: Poly


@dataclass(frozen=True, slots=True)
class QuasiPolynomial:
    """Value of an expression for n in lo..hi: classes[r] holds the segments covering lo..hi for
    the n with n mod modulus == r."""

    lo: int
    hi: int
    modulus: int
    classes: tuple[tuple[Segment, ...], ...]

    def at(self, n: int) -> Fraction:
        for s in self.classes[n % self.modulus]:
            if s.lo <= n <= s.hi:
                return p_at(s.poly, n)
        raise ValueError(f"{n} outside {self.lo}..{self.hi}")

    def total(self, lo: int | None = None, hi: int | None = None) -> Fraction:
        """Sum over n in lo..hi (default: the whole range) in closed form, class by class."""
        lo = self.lo if lo is None else max(lo, self.lo)
        hi = self.hi if hi is None else min(hi, self.hi)
        out = Fraction(0)
        for r, segs in enumerate(self.classes):
            for s in segs:
                a, b = max(s.lo, lo), min(s.hi, hi)
                q0, q1 = _class_range(a, b, self.modulus, r)
                if q0 <= q1:
                    out += p_sum(p_compose_linear(s.poly, self.modulus, r), q0, q1)
        return out

    @property
    def pieces(self) -> int:
        return sum(len(c) for c in self.classes)

    def max_degree(self) -> int:
        return max((p_degree(s.poly) for c in self.classes for s in c), default=-1)


def _class_range(a: int, b: int, m: int, r: int) -> tuple[int, int]:
    """q0..q1 with a <= m*q + r <= b."""
    return -((r - a) // m), (b - r) // m


def constant(lo: int, hi: int, value) -> QuasiPolynomial:
    return QuasiPolynomial(lo, hi, 1, ((Segment(lo, hi, p_const(value)),),))


def identity(lo: int, hi: int) -> QuasiPolynomial:
    return QuasiPolynomial(lo, hi, 1, ((Segment(lo, hi, (Fraction(0), Fraction(1))),),))


def _merge(a: Sequence[Segment], b: Sequence[Segment], f: Callable[[Poly, Poly], Poly]) -> list[Segment]:
    """Segments of two coverings of the same range, cut where either is, combined by f."""
    out: list[Segment] = []
    i = j = 0
    lo = a[0].lo
    while i < len(a) and j < len(b):
        hi = min(a[i].hi, b[j].hi)
        poly = f(a[i].poly, b[j].poly)
        if out and out[-1].poly == poly:
            out[-1] = Segment(out[-1].lo, hi, poly)
        else:
            out.append(Segment(lo, hi, poly))
        lo = hi + 1
        if a[i].hi == hi:
            i += 1
        if b[j].hi == hi:
            j += 1
    return out


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def _normalized(lo: int, hi: int, modulus: int, classes: list[list[Segment]]) -> QuasiPolynomial:
    """Merge equal neighbours; drop to the smallest period the classes actually have."""
    cleaned = []
    for segs in classes:
        merged: list[Segment] = []
        for s in segs:
            if merged and merged[-1].poly == s.poly:
                merged[-1] = Segment(merged[-1].lo, s.hi, s.poly)
            else:
                merged.append(s)
        cleaned.append(tuple(merged))
    for d in _divisors(modulus):
        if all(cleaned[r] == cleaned[r % d] for r in range(d, modulus)):
            return QuasiPolynomial(lo, hi, d, tuple(cleaned[:d]))
    return QuasiPolynomial(lo, hi, modulus, tuple(cleaned))


def _divisors(m: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(m) + 1) if m % d == 0]
    return sorted(set(small + [m // d for d in small]))


def combine(a: QuasiPolynomial, b: QuasiPolynomial, f: Callable[[Poly, Poly], Poly]) -> QuasiPolynomial:
    m = _lcm(a.modulus, b.modulus)
    classes = [_merge(a.classes[r % a.modulus], b.classes[r % b.modulus], f) for r in range(m)]
    return _normalized(a.lo, a.hi, m, classes)


def _map_segments(q: QuasiPolynomial, modulus: int,
                  f: Callable[[int, Segment], Iterable[Segment]]) -> QuasiPolynomial:
    """Rebuild on a finer period: f(r, segment of class r mod q.modulus) gives class r's segments."""
    classes = [[out for s in q.classes[r % q.modulus] for out in f(r, s)] for r in range(modulus)]
    return _normalized(q.lo, q.hi, modulus, classes)


# ------------------------------------------------------------------ node by node

def quasi_polynomial(e: Expr, name: str, lo: int, hi: int, values: dict | None = None) -> QuasiPolynomial:
    """The exact form of `e` in the symbol `name` over n = lo..hi, every other symbol taken
    from `values` (numbers)."""
    return Converter(name, lo, hi, values or {}).convert(e)


class Series(Expr):
    """sum_over(n, lo, hi, body): the sum of `body` over n = lo..hi, valued in closed form. It
    stands alone in a term (not inside other nodes); its symbols are the body's but n."""

    __slots__ = ("var", "lo", "hi", "body")

    def __init__(self, var: str, lo: int, hi: int, body: Expr):
        self.var, self.lo, self.hi, self.body = var, lo, hi, body

    def symbols(self) -> tuple[str, ...]:
        return tuple(s for s in self.body.symbols() if s != self.var)

    def render(self, values=None) -> str:
        return f"sum_over({self.var}, {self.lo}, {self.hi}, {self.body.render(values)})"

    __str__ = render

    def value(self, values: dict, converter: Converter | None = None) -> Fraction:
        if self.hi < self.lo:
            return Fraction(0)
        conv = converter or Converter(self.var, self.lo, self.hi, values)
        return conv.convert(self.body).total()


class Converter:
    """Converts expressions in one symbol over one range, remembering shared subtrees."""

    def __init__(self, name: str, lo: int, hi: int, values: dict):
        if hi < lo:
            raise ValueError(f"empty range {lo}..{hi}")
        self.name, self.lo, self.hi, self.values = name, lo, hi, values
        self.memo: dict[int, tuple[Expr, QuasiPolynomial]] = {}  # the node is kept so its id stays its own

    def convert(self, e: Expr) -> QuasiPolynomial:
        hit = self.memo.get(id(e))
        if hit is None:
            hit = self.memo[id(e)] = (e, self._convert(e))
        return hit[1]

    def _convert(self, e: Expr) -> QuasiPolynomial:
        lo, hi = self.lo, self.hi
        if isinstance(e, Const):
            return constant(lo, hi, e.value)
        if isinstance(e, Sym):
            if e.name == self.name:
                return identity(lo, hi)
            if e.name not in self.values:
                raise KeyError(f"no value for {e.name}")
            return constant(lo, hi, self.values[e.name])
        if isinstance(e, Add):
            out = self.convert(e.args[0])
            for a in e.args[1:]:
                out = combine(out, self.convert(a), p_add)
            return out
        if isinstance(e, Mul):
            out = self.convert(e.args[0])
            for a in e.args[1:]:
                out = combine(out, self.convert(a), p_mul)
            return out
        if isinstance(e, Neg):
            q = self.convert(e.arg)
            return _map_segments(q, q.modulus, lambda r, s: [Segment(s.lo, s.hi, p_scale(s.poly, -1))])
        if isinstance(e, Div):
            return combine(self.convert(e.num), self.convert(e.den), _divide)
        if isinstance(e, Pow):
            return self._power(e)
        if isinstance(e, Call):
            if e.fn in ("min", "max"):
                out = self.convert(e.args[0])
                for a in e.args[1:]:
                    out = extremum(out, self.convert(a), e.fn)
                return out
            if e.fn == "floor":
                return floor_of(self.convert(e.args[0]))
            if e.fn == "ceil":
                return _negate(floor_of(_negate(self.convert(e.args[0]))))
            if e.fn == "floor_sum":
                return self._floor_sum(e)
        raise NotQuasiPolynomial(f"{type(e).__name__} node")

    def _power(self, e: Pow) -> QuasiPolynomial:
        exp = self.convert(e.exp)
        if exp.max_degree() <= 0 and exp.modulus == 1 and len(exp.classes[0]) == 1:
            k = p_at(exp.classes[0][0].poly, 0)
            base = self.convert(e.base)
            if k.denominator == 1 and k >= 0:
                out = constant(self.lo, self.hi, 1)
                for _ in range(int(k)):
                    out = combine(out, base, p_mul)
                return out
            if base.max_degree() <= 0 and base.modulus == 1 and len(base.classes[0]) == 1:
                return constant(self.lo, self.hi, Fraction(float(p_at(base.classes[0][0].poly, 0)) ** float(k)))
        base = self.convert(e.base)
        if base.max_degree() <= 0 and base.modulus == 1 and len(base.classes[0]) == 1:
            z = p_at(base.classes[0][0].poly, 0)
            if 0 <= z < 1 and exp.max_degree() <= 1:
                return self._decaying(e, float(z), exp)
        return self._pointwise(e)

    def _decaying(self, e: Pow, z: float, exp: QuasiPolynomial) -> QuasiPolynomial:
        """z**x(n) with 0 <= z < 1 and x rising: point by point while z**x >= 2**-64, 0 beyond."""
        if z == 0:
            return self._pointwise(e)
        limit = 64 * math.log(2) / -math.log(z)  # z**x < 2**-64 once x > limit
        last = self.lo - 1
        while last < self.hi and float(exp.at(last + 1)) <= limit:
            last += 1
            if last - self.lo >= _POINTWISE_MAX:
                raise NotQuasiPolynomial(f"{e} decays too slowly to take point by point")
        if any(float(exp.at(n)) <= limit for n in range(last + 1, min(self.hi, last + 64) + 1)):
            return self._pointwise(e)  # not monotone after all: no shortcut
        segs = [Segment(n, n, p_const(Fraction(z ** float(exp.at(n))))) for n in range(self.lo, last + 1)]
        if last < self.hi:
            segs.append(Segment(last + 1, self.hi, ()))
        return _normalized(self.lo, self.hi, 1, [segs])

    def _pointwise(self, e: Expr) -> QuasiPolynomial:
        if self.hi - self.lo + 1 > _POINTWISE_MAX:
            raise NotQuasiPolynomial(f"{e} has no closed form in {self.name} over {self.lo}..{self.hi}")
        segs = []
        for n in range(self.lo, self.hi + 1):
            segs.append(Segment(n, n, p_const(Fraction(e.evaluate({**self.values, self.name: n})))))
        return _normalized(self.lo, self.hi, 1, [segs])

    def _floor_sum(self, e: Call) -> QuasiPolynomial:
        n, m, a, b = (self.convert(x) for x in e.args)
        for x, what in ((m, "m"), (a, "a")):
            if x.modulus != 1 or len(x.classes[0]) != 1 or x.max_degree() > 0:
                raise NotQuasiPolynomial(f"floor_sum's {what} must be constant")
        mm = int(p_at(m.classes[0][0].poly, 0))
        aa = int(p_at(a.classes[0][0].poly, 0))
        return _floor_sum_form(combine(n, b, _pack), mm, aa)


def _divide(a: Poly, b: Poly) -> Poly:
    if p_degree(b) > 0:
        raise NotQuasiPolynomial("division by a non-constant")
    if not b:
        raise ZeroDivisionError("division by zero")
    return p_scale(a, 1 / b[0])


def _negate(q: QuasiPolynomial) -> QuasiPolynomial:
    return _map_segments(q, q.modulus, lambda r, s: [Segment(s.lo, s.hi, p_scale(s.poly, -1))])


def floor_of(q: QuasiPolynomial) -> QuasiPolynomial:
    """floor(x(n)) of a linear x: either linear again on classes fine enough that the slope times
    the period is whole, or piecewise constant (one segment per value it takes), whichever has
    fewer pieces over the range."""
    m = q.modulus
    steps = 0
    for r, segs in enumerate(q.classes):
        for s in segs:
            if p_degree(s.poly) > 1:
                raise NotQuasiPolynomial("floor of a non-linear argument")
            if p_degree(s.poly) == 1:
                m = _lcm(m, s.poly[1].denominator)
                q0, q1 = _class_range(s.lo, s.hi, q.modulus, r)
                if q0 <= q1:
                    steps += abs(math.floor(p_at(s.poly, q.modulus * q1 + r)) - math.floor(p_at(s.poly, q.modulus * q0 + r)))
    if steps + q.pieces <= (m // q.modulus) * q.pieces:
        return _map_segments(q, q.modulus, lambda r, s: _floor_steps(s, q.modulus, r))

    def cut(r: int, s: Segment) -> list[Segment]:
        c0 = s.poly[0] if s.poly else Fraction(0)
        if p_degree(s.poly) < 1:
            return [Segment(s.lo, s.hi, p_const(math.floor(c0)))]
        c1 = s.poly[1]
        return [Segment(s.lo, s.hi, _trim((math.floor(c1 * r + c0) - c1 * r, c1)))]

    return _map_segments(q, m, cut)


def _floor_steps(s: Segment, m: int, r: int) -> list[Segment]:
    """floor(c0 + c1*n) on the n = r (mod m) of a segment, as constant pieces (contiguous n ranges)."""
    c0 = s.poly[0] if s.poly else Fraction(0)
    if p_degree(s.poly) < 1:
        return [Segment(s.lo, s.hi, p_const(math.floor(c0)))]
    q0, q1 = _class_range(s.lo, s.hi, m, r)
    if q0 > q1:
        return [Segment(s.lo, s.hi, ())]
    g = p_compose_linear(s.poly, m, r)  # c0' + c1'*q over q0..q1
    a, b = g[0] if g else Fraction(0), g[1] if len(g) > 1 else Fraction(0)
    out: list[Segment] = []
    q, start = q0, s.lo
    while q <= q1:
        v = math.floor(a + b * q)
        if b > 0:  # the last q with floor == v: a + b*q < v + 1
            last = min(q1, math.ceil((v + 1 - a) / b) - 1)
        else:  # falling: a + b*q >= v
            last = min(q1, math.floor((v - a) / b)) if b else q1
        last = max(last, q)
        end = s.hi if last == q1 else m * last + r + (m - 1)
        out.append(Segment(start, min(end, s.hi), p_const(v)))
        start, q = end + 1, last + 1
    return out


def extremum(a: QuasiPolynomial, b: QuasiPolynomial, fn: str) -> QuasiPolynomial:
    """min or max, cut exactly where a - b changes sign on each class's integers."""
    m = _lcm(a.modulus, b.modulus)
    classes = []
    for r in range(m):
        out: list[Segment] = []
        pairs = _merge(a.classes[r % a.modulus], b.classes[r % b.modulus], _pack)
        for s in pairs:
            pa, pb = _unpack(s.poly)
            d = p_add(pa, p_scale(pb, -1))
            for lo, hi, positive in sign_runs(d, s.lo, s.hi, m, r):
                take_a = positive if fn == "max" else not positive
                out.append(Segment(lo, hi, pa if take_a else pb))
        classes.append(out)
    return _normalized(a.lo, a.hi, m, classes)


# Two polynomials travel through _merge as one tuple (a, separator, b) so segments cut for both.
_SEP = object()


def _pack(a: Poly, b: Poly) -> tuple:
    return (*a, _SEP, *b)


def _unpack(t: tuple) -> tuple[Poly, Poly]:
    i = t.index(_SEP)
    return tuple(t[:i]), tuple(t[i + 1:])


def sign_runs(d: Poly, lo: int, hi: int, m: int = 1, r: int = 0) -> list[tuple[int, int, bool]]:
    """Runs of lo..hi (as contiguous n ranges) over which d(n) > 0 does not change, judged on the
    n = r (mod m) only. Exact: the sign changes of d(m*q + r) are located on the integers q."""
    q0, q1 = _class_range(lo, hi, m, r)
    if q0 > q1:
        return [(lo, hi, False)]
    g = p_compose_linear(d, m, r)
    runs = _runs_q(g, q0, q1)
    out = []
    for i, (a, b, positive) in enumerate(runs):
        start = lo if i == 0 else m * a + r
        end = hi if i == len(runs) - 1 else m * runs[i + 1][0] + r - 1
        out.append((start, end, positive))
    return out


def _runs_q(g: Poly, q0: int, q1: int) -> list[tuple[int, int, bool]]:
    """Maximal runs of q0..q1 with g(q) > 0 constant, for a polynomial g of any degree: cut at the
    integers around g's real roots (and its derivatives', where it turns), each checked exactly."""
    if p_degree(g) <= 0:
        return [(q0, q1, bool(g) and g[0] > 0)]
    cuts = sorted({c for c in _candidate_cuts(g) if q0 < c <= q1})
    bounds = [q0] + cuts + [q1 + 1]
    runs: list[tuple[int, int, bool]] = []
    for a, b in zip(bounds, bounds[1:]):
        runs += _monotone_runs(g, a, b - 1)
    merged: list[tuple[int, int, bool]] = []
    for run in runs:
        if merged and merged[-1][2] == run[2]:
            merged[-1] = (merged[-1][0], run[1], run[2])
        else:
            merged.append(run)
    return merged


def _candidate_cuts(g: Poly) -> set[int]:
    """Integers next to the real roots of g' (where g turns): g is monotone between them."""
    deriv = _trim([c * i for i, c in enumerate(g)][1:])
    if p_degree(deriv) <= 0:
        return set()
    if p_degree(deriv) == 1:
        root = -deriv[0] / deriv[1]
        return {math.floor(root) + 1}
    import numpy as np

    roots = np.roots([float(c) for c in reversed(deriv)])
    return {math.floor(x.real) + k for x in roots if abs(x.imag) < 1e-9 * max(1, abs(x)) for k in (0, 1, 2)}


def _monotone_runs(g: Poly, a: int, b: int) -> list[tuple[int, int, bool]]:
    """On a stretch where g is monotone the test g > 0 switches at most once: bisection."""
    pa, pb = p_at(g, a) > 0, p_at(g, b) > 0
    if pa == pb:
        return [(a, b, pa)]
    lo, hi = a, b
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if (p_at(g, mid) > 0) == pa else (lo, mid)
    return [(a, lo, pa), (hi, b, pb)]


def _floor_sum_form(nb: QuasiPolynomial, m: int, a: int) -> QuasiPolynomial:
    """floor_sum(n', m, a, b) where nb carries (n', b) per segment, both linear in the symbol n.
    With P = m / gcd(a, m) and g = a / gcd(a, m), for n' = P*u + v (0 <= v < P) and a constant
    0 <= b < m: floor_sum = P*g*u*(u - 1)/2 + C*u + g*v*u + D(v), C = sum_{w<P} floor((a w + b)/m),
    D(v) = sum_{w<v} floor((a w + b)/m). A b that grows with n is b0 + m*s(n) on classes fine
    enough that its step over a period is a multiple of m, and each whole m adds n' to the sum."""
    g0 = math.gcd(a, m)
    P, g = m // g0, a // g0
    period = nb.modulus
    for segs in nb.classes:
        for s in segs:
            pn, pb = _unpack(s.poly)
            if p_degree(pb) > 1 or p_degree(pn) > 1:
                raise NotQuasiPolynomial("floor_sum needs a linear count and offset")
            if p_degree(pn) == 1:
                period = _lcm(period, P * pn[1].denominator)
            if p_degree(pb) == 1:
                period = _lcm(period, pb[1].denominator)
                step = pb[1] * period
                if step % m:
                    period *= m // math.gcd(int(step), m)
    tables: dict[int, list[int]] = {}

    def prefix(b: int) -> list[int]:
        if b not in tables:
            acc, out = 0, [0]
            for w in range(P):
                acc += (a * w + b) // m
                out.append(acc)
            tables[b] = out
        return tables[b]

    def cut(r: int, s: Segment) -> list[Segment]:
        pn, pb = _unpack(s.poly)
        b_r = p_at(pb, r)  # whole on the class: b(n) = b_r + slope*(n - r), slope*(n - r) a multiple of m
        b0 = int(b_r) % m
        shift = p_scale(p_add(pb, p_const(-b0)), Fraction(1, m))  # (b(n) - b0) / m, whole on the class
        if p_degree(pn) < 1:
            n0 = int(pn[0]) if pn else 0
            base = p_const(floor_sum_value(n0, m, a, b0) if n0 > 0 else 0)
            return [Segment(s.lo, s.hi, p_add(base, p_scale(shift, n0)))]
        table = prefix(b0)
        v = int(p_at(pn, r)) % P
        u = p_scale(p_add(pn, p_const(-v)), Fraction(1, P))  # u(n) = (n'(n) - v) / P
        uu = p_mul(u, p_add(u, p_const(-1)))
        poly = p_add(p_add(p_scale(uu, Fraction(P * g, 2)), p_scale(u, table[P] + g * v)), p_const(table[v]))
        return [Segment(s.lo, s.hi, p_add(poly, p_mul(pn, shift)))]

    return _map_segments(nb, period, cut)


def positive(q: QuasiPolynomial) -> QuasiPolynomial:
    """1 where q > 0, else 0: the exact indicator, cut on each class's integers."""
    classes = []
    for r, segs in enumerate(q.classes):
        out = []
        for s in segs:
            for lo, hi, pos in sign_runs(s.poly, s.lo, s.hi, q.modulus, r):
                out.append(Segment(lo, hi, p_const(1 if pos else 0)))
        classes.append(out)
    return _normalized(q.lo, q.hi, q.modulus, classes)


def runs(indicator: QuasiPolynomial) -> list[tuple[int, int, bool | None]]:
    """Contiguous ranges of n with one value of a 0/1 indicator (None where its classes differ)."""
    cuts = sorted({s.lo for segs in indicator.classes for s in segs} | {indicator.hi + 1})
    out: list[tuple[int, int, bool | None]] = []
    for a, b in zip(cuts, cuts[1:]):
        states = set()
        for r, segs in enumerate(indicator.classes):
            q0, q1 = _class_range(a, b - 1, indicator.modulus, r)
            if q0 > q1:
                continue
            s = next(s for s in segs if s.lo <= a <= s.hi)
            states.add(bool(s.poly))
        state = states.pop() if len(states) == 1 else None
        if out and out[-1][2] == state:
            out[-1] = (out[-1][0], b - 1, state)
        else:
            out.append((a, b - 1, state))
    return out
