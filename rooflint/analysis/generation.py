"""A whole request — a prompt of P tokens and T new ones, for B sequences — with and without a
KV cache, its FLOPs, bytes and roofline time summed in closed form (seed 001).

With a cache: one prefill over the P prompt tokens (its last position gives the first new token),
then decode steps i = 1..T-1, step i attending over C = P + i tokens.
Without a cache: new token i (i = 0..T-1) comes from a full forward pass over the N = P + i tokens
so far, logits for the last position only; i = 0 is the same pass as the prefill.

Each op's FLOPs and bytes are polynomials in the length n (C or N): of degree <= 1 in C for a
decode step (constant above a sliding window), <= 2 in N for an uncached pass. Their coefficients
are fitted exactly (rational arithmetic) from the op model itself — `analyze()` at three lengths
of each piece — checked at more lengths, and summed over the steps with Faulhaber's formulas:

    sum_{n=lo}^{hi} 1 = hi - lo + 1,   sum n = S1(hi) - S1(lo-1),   sum n^2 = S2(hi) - S2(lo-1),
    S1(x) = x(x+1)/2,   S2(x) = x(x+1)(2x+1)/6.

An op's roofline time max(FLOPs/peak, bytes/BW) is the larger of two polynomials: each op's steps
are cut where g(n) = FLOPs(n)*BW - bytes(n)*peak changes sign (at most twice, found exactly on the
integers) and each run is summed in closed form. For eager attention on a dense model the work is
O(ops), whatever T is.

Where the op model is not one polynomial in the length — a MoE pass reads the weights of the
E(1 - (1 - k/E)^(B N)) experts it is expected to hit, which saturates; fused attention counts whole
tiles and split-KV chunks — the check fails and the piece is halved until its halves pass, the
shortest pieces being taken length by length. The work then grows with the number of such places
(bounded for MoE, one per tile boundary for flash attention); past _MAX_EVALUATIONS lengths the
request is refused rather than estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from rooflint.analysis.inference import Analysis, PhaseResult, Settings, analyze
from rooflint.analysis.roofline import COMPUTE, MEMORY
from rooflint.dtypes import DType
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model

Coeffs = tuple[Fraction, Fraction, Fraction]  # c0 + c1*n + c2*n^2
DECODE, RECOMPUTE = "decode", "recompute"
_KEYS = ("flops", "bytes_read", "bytes_written")
_SUMS = ("flops", "read", "written", "time")
_SMALL = 5  # a piece with fewer lengths than this is summed length by length (at most 4 evaluations)
_TOLERANCE = Fraction(1, 10**9)
_MAX_EVALUATIONS = 1024  # lengths one kind of step may be evaluated at before a non-polynomial cost is refused


# --- polynomials over the integers -------------------------------------------------------------

def power_sum(k: int, lo: int, hi: int) -> int:
    """sum_{n=lo}^{hi} n^k for k = 0, 1, 2 (Faulhaber); 0 for an empty range."""
    if hi < lo:
        return 0

    def upto(x: int) -> int:  # S_k(x) with S_k(x) - S_k(x-1) = x^k for every integer x
        return (x, x * (x + 1) // 2, x * (x + 1) * (2 * x + 1) // 6)[k]

    return upto(hi) - upto(lo - 1)


def poly_at(c: Coeffs, n: int) -> Fraction:
    return c[0] + c[1] * n + c[2] * n * n


def poly_sum(c: Coeffs, lo: int, hi: int) -> Fraction:
    """sum_{n=lo}^{hi} (c0 + c1 n + c2 n^2) = c0*K + c1*sum n + c2*sum n^2."""
    return c[0] * power_sum(0, lo, hi) + c[1] * power_sum(1, lo, hi) + c[2] * power_sum(2, lo, hi)


def fit(points: list[tuple[int, Fraction]]) -> Coeffs:
    """The polynomial of degree <= 2 through three points, exactly (Newton's divided differences)."""
    (x0, y0), (x1, y1), (x2, y2) = points
    d1 = (y1 - y0) / (x1 - x0)
    d2 = ((y2 - y1) / (x2 - x1) - d1) / (x2 - x0)
    return (y0 - d1 * x0 + d2 * x0 * x1, d1 - d2 * (x0 + x1), d2)


def _add(a: Coeffs, b: Coeffs, scale: int = 1) -> Coeffs:
    return (a[0] + scale * b[0], a[1] + scale * b[1], a[2] + scale * b[2])


ZERO: Coeffs = (Fraction(0), Fraction(0), Fraction(0))


def bound_runs(g: Coeffs, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """Maximal runs (a, b, g > 0) of lo..hi on which the sign test g(n) > 0 does not change.

    g has degree <= 2, so it is monotone on each side of its vertex; on a monotone piece the test
    changes at most once, and the place is found exactly (a root guess checked on the integers,
    bisection if the guess misses)."""
    if hi < lo:
        return []
    pieces = [(lo, hi)]
    if g[2] != 0:
        v = math.floor(-g[1] / (2 * g[2]))
        pieces = [p for p in ((lo, min(hi, v)), (max(lo, v + 1), hi)) if p[0] <= p[1]]
    runs: list[tuple[int, int, bool]] = []
    for a, b in pieces:
        pa = poly_at(g, a) > 0
        if (poly_at(g, b) > 0) == pa:
            runs.append((a, b, pa))
            continue
        k = _last_same(g, a, b, pa)
        runs += [(a, k, pa), (k + 1, b, not pa)]
    merged: list[tuple[int, int, bool]] = []
    for run in runs:
        if merged and merged[-1][2] == run[2]:
            merged[-1] = (merged[-1][0], run[1], run[2])
        else:
            merged.append(run)
    return merged


def _last_same(g: Coeffs, a: int, b: int, pa: bool) -> int:
    """Largest k in [a, b) whose test equals pa, given test(a) == pa != test(b), g monotone."""
    def same(n: int) -> bool:
        return (poly_at(g, n) > 0) == pa

    guess = _root_guess(g, a, b)
    if guess is not None:
        k = min(max(guess, a), b - 1)
        if same(k) and not same(k + 1):
            return k
    lo, hi = a, b
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if same(mid) else (lo, mid)
    return lo


def _root_guess(g: Coeffs, a: int, b: int) -> int | None:
    if g[2] == 0:
        return math.floor(-g[0] / g[1]) if g[1] != 0 else None
    try:
        c0, c1, c2 = float(g[0]), float(g[1]), float(g[2])
        disc = c1 * c1 - 4 * c2 * c0
        if disc < 0:
            return None
        q = -(c1 + math.copysign(math.sqrt(disc), c1)) / 2
        roots = [q / c2] + ([c0 / q] if q else [])
        inside = [r for r in roots if a - 1 <= r <= b + 1]
        return math.floor(inside[0]) if inside else None
    except (OverflowError, ValueError, ZeroDivisionError):
        return None


# --- results -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OpTotal:
    """One op summed over the steps of a StepSum (all its `count` instances per step)."""

    name: str
    scope: str
    kind: str
    count: int
    flops: float
    bytes_read: float
    bytes_written: float
    time_s: float
    compute_steps: int  # steps in which the op is compute-bound
    runs: tuple[tuple[int, int, str], ...]  # (first length, last length, bound), merged

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def bound(self) -> str:
        """'memory', 'compute', or e.g. 'memory→compute at 1234' (the length where it switches)."""
        if not self.runs:
            return ""
        text = self.runs[0][2]
        for first, _, bound in self.runs[1:]:
            text += f"→{bound} at {first}"
        return text


@dataclass(frozen=True, slots=True)
class Piece:
    """Lengths lo..hi over which the whole pass's per-step cost is one polynomial in the length."""

    lo: int
    hi: int
    flops: Coeffs  # FLOPs of one step (all ops, all instances) at length n
    bytes: Coeffs
    fitted: bool  # False: one length taken as it is (lo == hi; the coefficients are c0 only)


@dataclass(frozen=True, slots=True)
class StepSum:
    """One kind of step (a cached decode step at C, or an uncached pass over N tokens) summed
    over lengths lo..hi, in closed form piece by piece."""

    name: str  # "decode" or "recompute"
    lo: int
    hi: int
    ops: tuple[OpTotal, ...]
    pieces: tuple[Piece, ...]
    irregular: tuple[str, ...] = ()  # "op key" whose cost was not one polynomial somewhere

    @property
    def explicit_steps(self) -> int:
        """Steps taken length by length (pieces where the cost is not one polynomial)."""
        return sum(p.hi - p.lo + 1 for p in self.pieces if not p.fitted)

    @property
    def steps(self) -> int:
        return max(0, self.hi - self.lo + 1)

    @property
    def flops(self) -> float:
        return float(sum(poly_sum(p.flops, p.lo, p.hi) for p in self.pieces))

    @property
    def bytes(self) -> float:
        return float(sum(poly_sum(p.bytes, p.lo, p.hi) for p in self.pieces))

    @property
    def bytes_read(self) -> float:
        return sum(o.bytes_read for o in self.ops)

    @property
    def bytes_written(self) -> float:
        return sum(o.bytes_written for o in self.ops)

    @property
    def time_s(self) -> float:
        return sum(o.time_s for o in self.ops)

    def flops_at(self, n: int) -> float:
        """FLOPs of the step at length n, from the fitted polynomials."""
        return float(poly_at(self._piece(n).flops, n))

    def bytes_at(self, n: int) -> float:
        return float(poly_at(self._piece(n).bytes, n))

    def _piece(self, n: int) -> Piece:
        for p in self.pieces:
            if p.lo <= n <= p.hi:
                return p
        raise ValueError(f"length {n} outside {self.lo}..{self.hi}")


@dataclass(frozen=True, slots=True)
class Generation:
    model: Model
    hardware: Hardware
    settings: Settings  # prompt P, batch B, dtypes
    new_tokens: int  # T
    dtype: DType
    kv_dtype: DType
    prefill: PhaseResult  # the pass over P that gives the first token (shared by both ways)
    decode: StepSum  # with a cache: steps i = 1..T-1 at C = P + i
    recompute: StepSum  # without: passes i = 0..T-1 over N = P + i tokens
    steps: dict[int, tuple[PhaseResult, PhaseResult]]  # i -> (cached step, uncached pass) at i = 0, 1, T-1
    end: Analysis  # analysis at the last decode context, for the final KV cache
    notes: tuple[str, ...]

    @property
    def prompt(self) -> int:
        return self.settings.prompt

    @property
    def batch(self) -> int:
        return self.settings.batch

    @property
    def ttft_s(self) -> float:
        return self.prefill.time_s

    # with a cache: prefill + decode steps
    @property
    def cached_flops(self) -> float:
        return self.prefill.flops + self.decode.flops

    @property
    def cached_bytes(self) -> float:
        return self.prefill.bytes + self.decode.bytes

    @property
    def cached_bytes_read(self) -> float:
        return self.prefill.bytes_read + self.decode.bytes_read

    @property
    def cached_bytes_written(self) -> float:
        return self.prefill.bytes_written + self.decode.bytes_written

    @property
    def cached_time_s(self) -> float:
        """End-to-end latency: TTFT + the sum of the decode steps."""
        return self.prefill.time_s + self.decode.time_s

    # without a cache: a full pass per token
    @property
    def uncached_flops(self) -> float:
        return self.recompute.flops

    @property
    def uncached_bytes(self) -> float:
        return self.recompute.bytes

    @property
    def uncached_time_s(self) -> float:
        return self.recompute.time_s

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def cached_tokens_per_s(self) -> float:
        return self.tokens / self.cached_time_s

    @property
    def uncached_tokens_per_s(self) -> float:
        return self.tokens / self.uncached_time_s

    @property
    def kv_context_end(self) -> int:
        """Tokens whose K/V are cached at the end: P + T - 1 (the last new token's are never computed)."""
        return self.prompt + self.new_tokens - 1

    @property
    def kv_bytes_end(self) -> float:
        return self.end.kv_bytes

    def step_growth(self, which: str) -> float | None:
        """FLOPs of the step at i = T-1 over those at i = 1 ('decode' or 'recompute'); None if T < 3."""
        if self.new_tokens < 3:
            return None
        k = 0 if which == DECODE else 1
        return self.steps[self.new_tokens - 1][k].flops / self.steps[1][k].flops


def generation(model: Model, hardware: Hardware, settings: Settings, new_tokens: int) -> Generation:
    """A request of settings.prompt tokens and `new_tokens` new ones for settings.batch sequences,
    with and without a KV cache. Logits are computed for the last position only."""
    if isinstance(new_tokens, bool) or not isinstance(new_tokens, int) or new_tokens <= 0:
        raise SpecError("--new-tokens", None, f"expected a positive integer, got {new_tokens!r}")
    if getattr(settings, "prefix", 0):
        raise SpecError("--prefix", None, "a generated request starts from an empty cache; got a cached prefix "
                        f"of {settings.prefix} tokens")
    settings = replace(settings, all_logits=False, context=None)
    P, T = settings.prompt, new_tokens
    memo: dict[tuple[str, int], PhaseResult] = {}
    first = analyze(model, hardware, settings)

    def decode_at(c: int) -> PhaseResult:
        if ("d", c) not in memo:
            memo["d", c] = analyze(model, hardware, replace(settings, context=c)).decode
        return memo["d", c]

    def pass_over(n: int) -> PhaseResult:
        if ("r", n) not in memo:
            memo["r", n] = first.prefill if n == P else \
                analyze(model, hardware, replace(settings, prompt=n, context=n)).prefill
        return memo["r", n]

    cuts = [model.sliding_window] if model.sliding_window else []
    decode = _step_sum(DECODE, P + 1, P + T - 1, decode_at, cuts)
    recompute = _step_sum(RECOMPUTE, P, P + T - 1, pass_over, cuts)
    steps = {i: (first.prefill if i == 0 else decode_at(P + i), pass_over(P + i))
             for i in sorted({0, min(1, T - 1), T - 1})}
    end = analyze(model, hardware, replace(settings, context=P + T - 1))
    return Generation(model, hardware, settings, T, first.dtype, first.kv_dtype, first.prefill,
                      decode, recompute, steps, end, tuple(_notes(model, P, T, (decode, recompute))))


def _notes(m: Model, P: int, T: int, sums: tuple[StepSum, ...]) -> list[str]:
    notes = []
    for total in sums:
        if total.irregular:
            notes.append(f"{total.name}: the cost is not one polynomial in the length throughout "
                         f"({'; '.join(total.irregular)}): {total.explicit_steps:,} of {total.steps:,} steps "
                         "taken one by one, the rest in closed form")
    if T == 1:
        notes.append("T = 1: the prefill gives the only new token; there is no decode step")
    limit = m.max_position_embeddings
    if limit and P + T - 1 > limit:
        notes.append(f"{P + T - 1} tokens exceed {m.name}'s max_position_embeddings ({limit})")
    w = m.sliding_window
    if w and P + T - 1 > w:
        notes.append(f"sliding window {w}: sliding layers attend over (and cache) at most {w} tokens per step")
    return notes


def _step_sum(name: str, lo: int, hi: int, at, cuts: list[int]) -> StepSum:
    """Sum the pass `at(n)` over n = lo..hi: split at the window, each piece fitted, checked, summed."""
    bounds = [lo] + sorted(c + 1 for c in cuts if lo < c + 1 <= hi) + [hi + 1]
    summer = _Summer(name, at)
    for a, b in zip(bounds, bounds[1:]):
        if a <= b - 1:
            summer.segment(a, b - 1)
    merged: list[Piece] = []
    for p in summer.pieces:  # neighbours with one polynomial (a window that leaves this pass alone) are one
        last = merged[-1] if merged else None
        if last and last.fitted and p.fitted and (last.flops, last.bytes) == (p.flops, p.bytes):
            merged[-1] = replace(last, hi=p.hi)
        else:
            merged.append(p)
    for v in summer.per_op.values():  # exact sums plus the lengths taken one by one
        for key in _SUMS:
            v[key] = float(v[key] + Fraction(math.fsum(v["loose"][key])))
    ops = tuple(OpTotal(name=k, scope=v["scope"], kind=v["kind"], count=v["count"],
                        flops=v["flops"], bytes_read=v["read"], bytes_written=v["written"],
                        time_s=v["time"], compute_steps=v["compute_steps"], runs=tuple(v["runs"]))
                for k, v in summer.per_op.items())
    return StepSum(name, lo, hi, ops, tuple(merged), tuple(sorted(summer.irregular)))


class _Summer:
    """Fits and sums one kind of step piece by piece, accumulating per op.

    A piece whose cost is not one polynomial (checked at more lengths than fitted) is halved until
    its halves are, down to pieces of fewer than _SMALL lengths, taken length by length: the
    expected experts a MoE pass hits (E(1 - (1 - k/E)^T), constant once T is large), a step in
    flash-decoding's split count. Pure polynomial costs take O(1) evaluations per window piece."""

    def __init__(self, name: str, at):
        self.name, self.at = name, at
        self.seen: set[int] = set()
        self.pieces: list[Piece] = []
        self.per_op: dict[str, dict] = {}
        self.irregular: set[str] = set()  # "op key" found not polynomial somewhere

    def evaluate(self, n: int, why: tuple[str, str, int, int] | None = None) -> PhaseResult:
        self.seen.add(n)
        if len(self.seen) > _MAX_EVALUATIONS:
            op, key, a, b = why or ("", "cost", n, n)
            raise SpecError(self.name, op or None, f"{key} is not a polynomial of degree <= 2 in the sequence "
                            f"length over {a}..{b}, and summing it length by length would take more than "
                            f"{_MAX_EVALUATIONS} evaluations (fused-kernel tile counts have no closed form here; "
                            "use eager attention or fewer tokens)")
        return self.at(n)

    def segment(self, a: int, b: int, why: tuple[str, str, int, int] | None = None) -> None:
        if b - a + 1 < _SMALL:  # too short to fit and check: taken length by length
            for n in range(a, b + 1):
                self._add_one(n, self.evaluate(n, why))
            return
        mid = (a + b) // 2
        xs = [a, mid, b]
        probes = sorted({a + 1, b - 1, (a + mid) // 2, (mid + b) // 2, (a + 3 * b) // 4 + 1} - set(xs))
        samples = [self.evaluate(x, why) for x in xs]
        checks = [self.evaluate(x, why) for x in probes]
        fitted = _fit_ops(xs, samples, probes, checks)
        if isinstance(fitted, tuple):  # (op, key): not one polynomial here
            self.irregular.add(" ".join(fitted))
            self.segment(a, mid, (*fitted, a, b))
            self.segment(mid + 1, b, (*fitted, a, b))
            return
        self._add(a, b, fitted, exact=True)

    def _add_one(self, n: int, phase: PhaseResult) -> None:
        """One length as it is: each op's own roofline time (floats, summed exactly at the end)."""
        total_flops, total_bytes = [], []
        for t in phase.ops:
            op = t.op
            acc = self._acc(op)
            for key, value in (("flops", op.flops), ("read", op.bytes_read), ("written", op.bytes_written),
                               ("time", t.time_s)):
                acc["loose"][key].append(op.count * value)
            compute = t.bound == COMPUTE
            acc["compute_steps"] += compute
            self._run(acc, n, n, COMPUTE if compute else MEMORY)
            total_flops.append(op.count * op.flops)
            total_bytes.append(op.count * op.bytes)
        self.pieces.append(Piece(n, n, (Fraction(math.fsum(total_flops)), Fraction(0), Fraction(0)),
                                 (Fraction(math.fsum(total_bytes)), Fraction(0), Fraction(0)), fitted=False))

    def _acc(self, op) -> dict:
        return self.per_op.setdefault(op.name, {"scope": op.scope, "kind": op.kind, "count": op.count, "flops": 0,
                                                "read": 0, "written": 0, "time": 0, "compute_steps": 0,
                                                "runs": [], "loose": {k: [] for k in _SUMS}})

    @staticmethod
    def _run(acc: dict, r0: int, r1: int, bound: str) -> None:
        runs = acc["runs"]
        if runs and runs[-1][2] == bound and runs[-1][1] == r0 - 1:
            runs[-1] = (runs[-1][0], r1, bound)
        else:
            runs.append((r0, r1, bound))

    def _add(self, a: int, b: int, fitted: dict, exact: bool) -> None:
        total_flops, total_bytes = ZERO, ZERO
        for name, (op, peak, bw, polys, overhead, half) in fitted.items():
            f, m = polys["flops"], _add(polys["bytes_read"], polys["bytes_written"])
            total_flops, total_bytes = _add(total_flops, f, op.count), _add(total_bytes, m, op.count)
            work = (f[0] + half, f[1], f[2])  # a calibrated profile's matmul ramp-up F_half
            g = _add(tuple(x * bw for x in work), tuple(x * peak for x in m), -1)  # work*BW - bytes*peak
            acc = self._acc(op)
            time = overhead * (b - a + 1)  # t0 per kernel per step
            for r0, r1, compute in bound_runs(g, a, b):
                time += poly_sum(work, r0, r1) / peak if compute else poly_sum(m, r0, r1) / bw
                acc["compute_steps"] += (r1 - r0 + 1) if compute else 0
                self._run(acc, r0, r1, COMPUTE if compute else MEMORY)
            acc["flops"] += op.count * poly_sum(f, a, b)
            acc["read"] += op.count * poly_sum(polys["bytes_read"], a, b)
            acc["written"] += op.count * poly_sum(polys["bytes_written"], a, b)
            acc["time"] += op.count * time
        self.pieces.append(Piece(a, b, total_flops, total_bytes, fitted=exact))


_FRACTIONS: dict[float, Fraction] = {}


def _fraction(x: float) -> Fraction:
    if x not in _FRACTIONS:
        _FRACTIONS[x] = Fraction(x)
    return _FRACTIONS[x]


def _lagrange(xs: list[int], ys: list[float], x: int) -> float:
    """The interpolant through (xs, ys) at x, in floats (a quick screen before the exact check)."""
    total = 0.0
    for j, (xj, yj) in enumerate(zip(xs, ys)):
        weight = 1.0
        for k, xk in enumerate(xs):
            if k != j:
                weight *= (x - xk) / (xj - xk)
        total += yj * weight
    return total


def _fit_ops(xs: list[int], samples: list[PhaseResult], probes: list[int], checks: list[PhaseResult]):
    """Each op's FLOPs, bytes read and written as exact polynomials through the samples, checked
    at the probes: {name: (op, peak, BW, polys, t0, F_half)}, or (op name, key) of the first that is not one."""
    names = [t.op.name for t in samples[0].ops]
    for phase in samples[1:] + checks:
        if [t.op.name for t in phase.ops] != names:
            return ("the op list", "changes")  # e.g. a split-KV reduction appearing
    for j, name in enumerate(names):  # screen in floats: most pieces that fail, fail here, cheaply
        for key in _KEYS:
            ys = [getattr(s.ops[j].op, key) for s in samples]
            scale = max(map(abs, ys), default=0.0)
            for x, s in zip(probes, checks):
                value = getattr(s.ops[j].op, key)
                if abs(_lagrange(xs, ys, x) - value) > 2 * float(_TOLERANCE) * max(abs(value), scale, 1.0):
                    return (name, key)
    out = {}
    for j, name in enumerate(names):
        t0 = samples[0].ops[j]
        polys = {}
        for key in _KEYS:
            c = fit([(x, Fraction(getattr(s.ops[j].op, key))) for x, s in zip(xs, samples)])
            for x, s in zip(probes, checks):
                value = Fraction(getattr(s.ops[j].op, key))
                if abs(poly_at(c, x) - value) > _TOLERANCE * max(abs(value), 1):
                    return (name, key)
            polys[key] = c
        out[name] = (t0.op, _fraction(t0.peak_flop_per_s), _fraction(t0.bandwidth_bytes_per_s), polys,
                     _fraction(t0.overhead_s), _fraction(t0.half_flop))
    return out
