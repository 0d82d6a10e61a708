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
from fractions import Fraction

from rooflint.analysis.expr import Add, Call, Const, Div, Expr, Mul, Neg, Pow, Sym
from rooflint.analysis.floor_sum import floor_sum_value
from rooflint.analysis.quasi import (
    Poly,
    QuasiPolynomial,
    Segment,
    class_range,
    combine,
    constant,
    identity,
    lcm,
    map_segments,
    merge,
    normalized,
    p_add,
    p_at,
    p_compose_linear,
    p_const,
    p_degree,
    p_mul,
    p_scale,
    pack,
    sign_runs,
    trim,
    unpack,
)

_POINTWISE_MAX = 20_000
_EXACT_POWER_MAX = 64  # x**k multiplied out exactly up to this k (a polynomial base: degree k times its own)


class NotQuasiPolynomial(ValueError):
    """The expression has no piecewise quasi-polynomial form over the range asked for."""



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
            return map_segments(q, q.modulus, lambda r, s: [Segment(s.lo, s.hi, p_scale(s.poly, -1))])
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
        """x**k: exact products for a small whole k, a float for a number to any other power,
        the decaying form for z**x(n), else point by point."""
        exp = self.convert(e.exp)
        if exp.max_degree() <= 0 and exp.modulus == 1 and len(exp.classes[0]) == 1:
            k = p_at(exp.classes[0][0].poly, 0)
            base = self.convert(e.base)
            constant_base = base.max_degree() <= 0 and base.modulus == 1 and len(base.classes[0]) == 1
            if constant_base and (k.denominator != 1 or k > _EXACT_POWER_MAX):
                # a number to a large power (MoE's (1 - k/E)^T at T = 131,072): a float, not a
                # Fraction of six-figure-digit numerator and denominator
                return constant(self.lo, self.hi, Fraction(float(p_at(base.classes[0][0].poly, 0)) ** float(k)))
            if k.denominator == 1 and 0 <= k <= _EXACT_POWER_MAX:
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
        return normalized(self.lo, self.hi, 1, [segs])

    def _pointwise(self, e: Expr) -> QuasiPolynomial:
        if self.hi - self.lo + 1 > _POINTWISE_MAX:
            raise NotQuasiPolynomial(f"{e} has no closed form in {self.name} over {self.lo}..{self.hi}")
        segs = []
        for n in range(self.lo, self.hi + 1):
            segs.append(Segment(n, n, p_const(Fraction(e.evaluate({**self.values, self.name: n})))))
        return normalized(self.lo, self.hi, 1, [segs])

    def _floor_sum(self, e: Call) -> QuasiPolynomial:
        n, m, a, b = (self.convert(x) for x in e.args)
        for x, what in ((m, "m"), (a, "a")):
            if x.modulus != 1 or len(x.classes[0]) != 1 or x.max_degree() > 0:
                raise NotQuasiPolynomial(f"floor_sum's {what} must be constant")
        mm = int(p_at(m.classes[0][0].poly, 0))
        aa = int(p_at(a.classes[0][0].poly, 0))
        return _floor_sum_form(combine(n, b, pack), mm, aa)


def _divide(a: Poly, b: Poly) -> Poly:
    if p_degree(b) > 0:
        raise NotQuasiPolynomial("division by a non-constant")
    if not b:
        raise ZeroDivisionError("division by zero")
    return p_scale(a, 1 / b[0])


def _negate(q: QuasiPolynomial) -> QuasiPolynomial:
    return map_segments(q, q.modulus, lambda r, s: [Segment(s.lo, s.hi, p_scale(s.poly, -1))])


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
                m = lcm(m, s.poly[1].denominator)
                q0, q1 = class_range(s.lo, s.hi, q.modulus, r)
                if q0 <= q1:
                    steps += abs(math.floor(p_at(s.poly, q.modulus * q1 + r)) - math.floor(p_at(s.poly, q.modulus * q0 + r)))
    if steps + q.pieces <= (m // q.modulus) * q.pieces:
        return map_segments(q, q.modulus, lambda r, s: _floor_steps(s, q.modulus, r))

    def cut(r: int, s: Segment) -> list[Segment]:
        c0 = s.poly[0] if s.poly else Fraction(0)
        if p_degree(s.poly) < 1:
            return [Segment(s.lo, s.hi, p_const(math.floor(c0)))]
        c1 = s.poly[1]
        return [Segment(s.lo, s.hi, trim((math.floor(c1 * r + c0) - c1 * r, c1)))]

    return map_segments(q, m, cut)


def _floor_steps(s: Segment, m: int, r: int) -> list[Segment]:
    """floor(c0 + c1*n) on the n = r (mod m) of a segment, as constant pieces (contiguous n ranges)."""
    c0 = s.poly[0] if s.poly else Fraction(0)
    if p_degree(s.poly) < 1:
        return [Segment(s.lo, s.hi, p_const(math.floor(c0)))]
    q0, q1 = class_range(s.lo, s.hi, m, r)
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
    m = lcm(a.modulus, b.modulus)
    classes = []
    for r in range(m):
        out: list[Segment] = []
        pairs = merge(a.classes[r % a.modulus], b.classes[r % b.modulus], pack)
        for s in pairs:
            pa, pb = unpack(s.poly)
            d = p_add(pa, p_scale(pb, -1))
            for lo, hi, positive in sign_runs(d, s.lo, s.hi, m, r):
                take_a = positive if fn == "max" else not positive
                out.append(Segment(lo, hi, pa if take_a else pb))
        classes.append(out)
    return normalized(a.lo, a.hi, m, classes)


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
            pn, pb = unpack(s.poly)
            if p_degree(pb) > 1 or p_degree(pn) > 1:
                raise NotQuasiPolynomial("floor_sum needs a linear count and offset")
            if p_degree(pn) == 1:
                period = lcm(period, P * pn[1].denominator)
            if p_degree(pb) == 1:
                period = lcm(period, pb[1].denominator)
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
        pn, pb = unpack(s.poly)
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

    return map_segments(nb, period, cut)
