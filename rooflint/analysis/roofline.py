"""Roofline: ridge point, attainable FLOP/s, time lower bound and bound kind of an op.

A datasheet profile gives time = max(F / P, bytes / BW). A profile calibrated by `rooflint
measure` adds the small-shape losses it fitted: t0 + max((F + F_half) / P, bytes / BW), t0 a
fixed cost per kernel and F_half (matmuls only) the work lost to ramp-up. TIME is that formula,
the one every time in rooflint is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.expr import Expr, emax, sym
from rooflint.analysis.ops import MATMUL, Op, intensity_term
from rooflint.analysis.terms import Term
from rooflint.specs import Hardware

COMPUTE, MEMORY = "compute", "memory"

_F, _RD, _WR, _P, _BW, _T0, _H, _ON = sym("flops bytes_read bytes_written peak BW t0 F_half present")
TIME: Expr = _ON * _T0 + emax((_F + _H) / _P, (_RD + _WR) / _BW)
"""time of one instance: present*t0 + max((flops + F_half)/peak, (bytes_read + bytes_written)/BW)."""


def time_expr(flops: Expr, read: Expr, written: Expr, present: Expr, peak, bw, t0, half) -> Expr:
    """TIME with its parts bound (expressions or numbers)."""
    return TIME.substitute({"flops": flops, "bytes_read": read, "bytes_written": written, "present": present,
                            "peak": peak, "BW": bw, "t0": t0, "F_half": half})


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Timed:
    """An op placed on a hardware roofline."""

    op: Op
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float
    overhead_s: float = 0.0  # t0: fixed cost per kernel (calibrated profiles)
    half_flop: float = 0.0  # F_half: work a matmul loses to ramp-up (calibrated profiles)
    forecast_s: float | None = None  # what a good engine's kernel takes (forecast.FORECAST); None: not asked

    @property
    def compute_time_s(self) -> float:
        """(FLOPs + F_half) / peak; F_half is 0 for a datasheet profile."""
        return (self.op.flops + self.half_flop) / self.peak_flop_per_s if self.op.flops else 0.0

    @property
    def memory_time_s(self) -> float:
        return self.op.bytes / self.bandwidth_bytes_per_s

    @property
    def time_s(self) -> float:
        """TIME: present*t0 + max((FLOPs + F_half) / peak, bytes / bandwidth)."""
        return self.op.present * self.overhead_s + max(self.compute_time_s, self.memory_time_s)

    @property
    def ridge_point(self) -> float:
        return self.peak_flop_per_s / self.bandwidth_bytes_per_s

    @property
    def bound(self) -> str:
        """Which roof the op sits under: effective intensity (FLOPs + F_half) / bytes vs the ridge."""
        return bound_of_op(self.op.flops, self.op.bytes, self.half_flop, self.peak_flop_per_s,
                           self.bandwidth_bytes_per_s)

    @property
    def attainable_flop_per_s(self) -> float:
        return min(self.peak_flop_per_s, self.op.intensity * self.bandwidth_bytes_per_s)


def timed_terms(t: Timed, prefix: str) -> list:
    """The op's intensity and time as terms: the time is TIME with the parts a profile does not
    have (t0, F_half) folded away, as it was computed."""
    o = t.op
    values = {"flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written, "present": o.present,
              "peak": t.peak_flop_per_s, "BW": t.bandwidth_bytes_per_s, "t0": t.overhead_s, "F_half": t.half_flop}
    folded = {k: values[k] for k in ("t0", "F_half") if not values[k]}
    if o.present == 1:
        folded["present"] = 1
    expr = TIME.substitute(folded)
    note = f"vs ridge peak/BW = {t.ridge_point:.1f} FLOP/B: {t.bound}-bound"
    return [intensity_term(o, f"{prefix}.intensity", note),
            Term(f"{prefix}.time_s", expr, {k: values[k] for k in expr.symbols()}, t.time_s, "seconds")]


def bound_of_op(flops: float, nbytes: float, half: float, peak: float, bw: float) -> str:
    if not flops:
        return MEMORY
    if not nbytes:
        return COMPUTE
    return COMPUTE if (flops + half) * bw > nbytes * peak else MEMORY


def bound_of(intensity: float, ridge_point: float) -> str:
    """'compute' above the ridge point, 'memory' at or below it."""
    return COMPUTE if intensity > ridge_point else MEMORY


def hardware_terms(hw: Hardware, peak_key: str, kind: str) -> tuple[float, float, float, float]:
    """(peak, BW, t0, F_half) an op of this dtype key and kind runs against on hw."""
    half = hw.matmul_half_flop.get(peak_key, 0.0) if kind == MATMUL else 0.0
    return hw.peak(peak_key), hw.bandwidth_bytes_per_s, hw.kernel_overhead_s, half


def place(op: Op, hw: Hardware) -> Timed:
    peak, bw, t0, half = hardware_terms(hw, op.peak_key, op.kind)
    return Timed(op, peak, bw, t0, half)
