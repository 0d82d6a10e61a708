"""The piecewise quasi-polynomial form of a quantity in one whole-number symbol n, and its exact
arithmetic: polynomials in n with Fraction coefficients, per residue class n = r (mod M) and per
segment of the range; sums over a range in closed form (Newton's forward differences, any
degree); the runs where a polynomial is positive, located exactly on a class's integers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

Poly = tuple[Fraction, ...]  # c0 + c1*n + c2*n^2 + ..., no trailing zeros (the zero polynomial is ())
# ------------------------------------------------------------------ polynomials in n

def trim(c: Sequence[Fraction]) -> Poly:
    c = list(c)
    while c and c[-1] == 0:
        c.pop()
    return tuple(c)


def p_const(v) -> Poly:
    return trim((Fraction(v),))


def p_add(a: Poly, b: Poly) -> Poly:
    n = max(len(a), len(b))
    return trim([(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)])


def p_scale(a: Poly, k) -> Poly:
    return trim([x * k for x in a])


def p_mul(a: Poly, b: Poly) -> Poly:
    if not a or not b:
        return ()
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return trim(out)


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
    lin = trim((Fraction(r), Fraction(m)))
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
                q0, q1 = class_range(a, b, self.modulus, r)
                if q0 <= q1:
                    out += p_sum(p_compose_linear(s.poly, self.modulus, r), q0, q1)
        return out

    @property
    def pieces(self) -> int:
        return sum(len(c) for c in self.classes)

    def max_degree(self) -> int:
        return max((p_degree(s.poly) for c in self.classes for s in c), default=-1)


def class_range(a: int, b: int, m: int, r: int) -> tuple[int, int]:
    """q0..q1 with a <= m*q + r <= b."""
    return -((r - a) // m), (b - r) // m


def constant(lo: int, hi: int, value) -> QuasiPolynomial:
    return QuasiPolynomial(lo, hi, 1, ((Segment(lo, hi, p_const(value)),),))


def identity(lo: int, hi: int) -> QuasiPolynomial:
    return QuasiPolynomial(lo, hi, 1, ((Segment(lo, hi, (Fraction(0), Fraction(1))),),))


def merge(a: Sequence[Segment], b: Sequence[Segment], f: Callable[[Poly, Poly], Poly]) -> list[Segment]:
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


def lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def normalized(lo: int, hi: int, modulus: int, classes: list[list[Segment]]) -> QuasiPolynomial:
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
    for d in divisors(modulus):
        if all(cleaned[r] == cleaned[r % d] for r in range(d, modulus)):
            return QuasiPolynomial(lo, hi, d, tuple(cleaned[:d]))
    return QuasiPolynomial(lo, hi, modulus, tuple(cleaned))


def divisors(m: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(m) + 1) if m % d == 0]
    return sorted(set(small + [m // d for d in small]))


def combine(a: QuasiPolynomial, b: QuasiPolynomial, f: Callable[[Poly, Poly], Poly]) -> QuasiPolynomial:
    m = lcm(a.modulus, b.modulus)
    classes = [merge(a.classes[r % a.modulus], b.classes[r % b.modulus], f) for r in range(m)]
    return normalized(a.lo, a.hi, m, classes)


def map_segments(q: QuasiPolynomial, modulus: int,
                  f: Callable[[int, Segment], Iterable[Segment]]) -> QuasiPolynomial:
    """Rebuild on a finer period: f(r, segment of class r mod q.modulus) gives class r's segments."""
    classes = [[out for s in q.classes[r % q.modulus] for out in f(r, s)] for r in range(modulus)]
    return normalized(q.lo, q.hi, modulus, classes)


# Two polynomials travel through merge as one tuple (a, separator, b) so segments cut for both.
_SEP = object()


def pack(a: Poly, b: Poly) -> tuple:
    return (*a, _SEP, *b)


def unpack(t: tuple) -> tuple[Poly, Poly]:
    i = t.index(_SEP)
    return tuple(t[:i]), tuple(t[i + 1:])


def sign_runs(d: Poly, lo: int, hi: int, m: int = 1, r: int = 0) -> list[tuple[int, int, bool]]:
    """Runs of lo..hi (as contiguous n ranges) over which d(n) > 0 does not change, judged on the
    n = r (mod m) only. Exact: the sign changes of d(m*q + r) are located on the integers q."""
    q0, q1 = class_range(lo, hi, m, r)
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
    deriv = trim([c * i for i, c in enumerate(g)][1:])
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


def positive(q: QuasiPolynomial) -> QuasiPolynomial:
    """1 where q > 0, else 0: the exact indicator, cut on each class's integers."""
    classes = []
    for r, segs in enumerate(q.classes):
        out = []
        for s in segs:
            for lo, hi, pos in sign_runs(s.poly, s.lo, s.hi, q.modulus, r):
                out.append(Segment(lo, hi, p_const(1 if pos else 0)))
        classes.append(out)
    return normalized(q.lo, q.hi, q.modulus, classes)


def runs(indicator: QuasiPolynomial) -> list[tuple[int, int, bool | None]]:
    """Contiguous ranges of n with one value of a 0/1 indicator (None where its classes differ)."""
    cuts = sorted({s.lo for segs in indicator.classes for s in segs} | {indicator.hi + 1})
    out: list[tuple[int, int, bool | None]] = []
    for a, b in zip(cuts, cuts[1:]):
        states = set()
        for r, segs in enumerate(indicator.classes):
            q0, q1 = class_range(a, b - 1, indicator.modulus, r)
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
