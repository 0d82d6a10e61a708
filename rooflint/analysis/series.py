"""Sums of a pass's ops over a range of one whole-number input, exactly.

Each op's own expressions — FLOPs, bytes and roofline time, with its derived symbols (tile
counts, split counts, windows, experts hit) written out — are turned into their piecewise
quasi-polynomial in the summed symbol (`polynomial`) and summed class by class. An op's bound is
where (FLOPs + F_half) * BW - bytes * peak is positive, located exactly on the integers. Each
sum is a term whose expression is sum_over(n, first, last, the op's expression).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rooflint.analysis.expr import Const, Expr, Sym, add, mul
from rooflint.analysis.layers import PhaseForm
from rooflint.analysis.ops import OpForm
from rooflint.analysis.polynomial import Converter, Series
from rooflint.analysis.quasi import QuasiPolynomial, positive, runs
from rooflint.analysis.roofline import COMPUTE, MEMORY, TIME, hardware_terms
from rooflint.analysis.terms import Term
from rooflint.specs import Hardware

FIELDS = (("flops", "flops"), ("bytes_read", "bytes"), ("bytes_written", "bytes"), ("time_s", "seconds"))


@dataclass(frozen=True, slots=True)
class OpSum:
    """One op summed over the steps (all its `count` instances per step)."""

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
    terms: tuple[Term, ...]  # the four sums, each its op's expression under sum_over
    flops_form: QuasiPolynomial = field(repr=False, compare=False)  # FLOPs of the op's instances at length n
    bytes_forms: tuple[QuasiPolynomial, QuasiPolynomial] = field(repr=False, compare=False)  # read, written

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
class StepSum:
    """One kind of step (a cached decode step at C, or an uncached pass over N tokens) summed over
    lengths lo..hi."""

    name: str  # decode | recompute
    var: str  # C | N
    lo: int
    hi: int
    ops: tuple[OpSum, ...]

    @property
    def steps(self) -> int:
        return max(0, self.hi - self.lo + 1)

    flops = property(lambda self: sum(o.flops for o in self.ops))
    bytes_read = property(lambda self: sum(o.bytes_read for o in self.ops))
    bytes_written = property(lambda self: sum(o.bytes_written for o in self.ops))
    bytes = property(lambda self: sum(o.bytes for o in self.ops))
    time_s = property(lambda self: sum(o.time_s for o in self.ops))

    def flops_at(self, n: int) -> float:
        """FLOPs of the whole step at length n, from the ops' exact forms."""
        return float(sum(o.flops_form.at(n) for o in self.ops))

    @property
    def pieces(self) -> int:
        """The most pieces (class segments) one op's FLOPs take over the range."""
        return max((o.flops_form.pieces for o in self.ops), default=0)


def inlined(o: OpForm, phase: PhaseForm, e: Expr) -> Expr:
    """An op expression with the phase's and the op's derived symbols written out."""
    env: dict[str, Expr] = {}
    for name, d in (*phase.defs, *o.defs):
        env[name] = d.substitute(env)
    return e.substitute(env)


def sum_ops(phase: PhaseForm, hw: Hardware, batch: int, name: str, var: str, lo: int, hi: int,
            inputs: dict[str, Expr], key: str) -> StepSum:
    """Every op of the pass summed over var = lo..hi, the pass's inputs given as expressions of var."""
    if hi < lo:
        return StepSum(name, var, lo, hi, ())
    ops = []
    for o in phase.ops:
        peak, bw, t0, half = hardware_terms(hw, o.peak_key, o.kind)
        values = {**phase.constants, "B": batch, "peak": peak, "BW": bw, "t0": t0, "F_half": half}
        parts = {k: inlined(o, phase, getattr(o, k)).substitute(inputs) for k in ("flops", "bytes_read",
                                                                                    "bytes_written", "present")}
        folded = {k: v for k, v in (("t0", t0), ("F_half", half)) if not v}
        if isinstance(parts["present"], Const) and parts["present"].value == 1:
            folded["present"] = 1
        parts["time_s"] = TIME.substitute({**folded, "flops": parts["flops"], "bytes_read": parts["bytes_read"],
                                           "bytes_written": parts["bytes_written"], "present": parts["present"]})
        conv = Converter(var, lo, hi, values)
        forms = {k: conv.convert(mul(o.count, parts[k])) for k, _ in FIELDS}
        sums = {k: float(forms[k].total()) for k, _ in FIELDS}
        work = add(parts["flops"], Sym("F_half")) * Sym("BW") - (parts["bytes_read"] + parts["bytes_written"]) * Sym("peak")
        compute = positive(conv.convert(work))
        bounds = tuple((a, b, {True: COMPUTE, False: MEMORY, None: "mixed"}[s]) for a, b, s in runs(compute))
        prefix = f"{key}.ops.{o.name}"
        series = {k: Series(var, lo, hi, mul(o.count, parts[k])) for k, _ in FIELDS}
        terms = tuple(Term(f"{prefix}.{k}", series[k], {s: values[s] for s in series[k].symbols()}, sums[k], unit)
                      for k, unit in FIELDS)
        ops.append(OpSum(o.name, o.scope, o.kind, o.count, sums["flops"], sums["bytes_read"], sums["bytes_written"],
                         sums["time_s"], int(compute.total()), bounds, terms, forms["flops"],
                         (forms["bytes_read"], forms["bytes_written"])))
    return StepSum(name, var, lo, hi, tuple(ops))


