"""Roofline: ridge point, attainable FLOP/s, time lower bound and bound kind of an op.

A datasheet profile gives time = max(F / P, bytes / BW). A profile calibrated by `rooflint
measure` adds the small-shape losses it fitted: t0 + max((F + F_half) / P, bytes / BW), t0 a
fixed cost per kernel and F_half (matmuls only) the work lost to ramp-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.ops import MATMUL, Op
from rooflint.specs import Hardware

COMPUTE, MEMORY = "compute", "memory"


@dataclass(frozen=True, slots=True)
class Timed:
    """An op placed on a hardware roofline."""

    op: Op
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float
    overhead_s: float = 0.0  # t0: fixed cost per kernel (calibrated profiles)
    half_flop: float = 0.0  # F_half: work a matmul loses to ramp-up (calibrated profiles)

    @property
    def compute_time_s(self) -> float:
        """(FLOPs + F_half) / peak; F_half is 0 for a datasheet profile."""
        return (self.op.flops + self.half_flop) / self.peak_flop_per_s if self.op.flops else 0.0

    @property
    def memory_time_s(self) -> float:
        return self.op.bytes / self.bandwidth_bytes_per_s

    @property
    def time_s(self) -> float:
        """Roofline time of one instance: t0 + max((FLOPs + F_half) / peak, bytes / bandwidth)."""
        return self.overhead_s + max(self.compute_time_s, self.memory_time_s)

    @property
    def ridge_point(self) -> float:
        return self.peak_flop_per_s / self.bandwidth_bytes_per_s

    @property
    def bound(self) -> str:
        """Which roof the op sits under: effective intensity (FLOPs + F_half) / bytes vs the ridge."""
        if not self.op.flops:
            return MEMORY
        if not self.op.bytes:
            return COMPUTE
        return bound_of((self.op.flops + self.half_flop) / self.op.bytes, self.ridge_point)

    @property
    def attainable_flop_per_s(self) -> float:
        return min(self.peak_flop_per_s, self.op.intensity * self.bandwidth_bytes_per_s)


def bound_of(intensity: float, ridge_point: float) -> str:
    """'compute' above the ridge point, 'memory' at or below it."""
    return COMPUTE if intensity > ridge_point else MEMORY


def place(op: Op, hw: Hardware) -> Timed:
    half = hw.matmul_half_flop.get(op.peak_key, 0.0) if op.kind == MATMUL else 0.0
    return Timed(op, hw.peak(op.peak_key), hw.bandwidth_bytes_per_s, hw.kernel_overhead_s, half)
