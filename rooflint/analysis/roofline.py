"""Roofline: ridge point, attainable FLOP/s, time lower bound and bound kind of an op."""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.ops import Op
from rooflint.specs import Hardware

COMPUTE, MEMORY = "compute", "memory"


@dataclass(frozen=True, slots=True)
class Timed:
    """An op placed on a hardware roofline."""

    op: Op
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float

    @property
    def compute_time_s(self) -> float:
        return self.op.flops / self.peak_flop_per_s

    @property
    def memory_time_s(self) -> float:
        return self.op.bytes / self.bandwidth_bytes_per_s

    @property
    def time_s(self) -> float:
        """Roofline time of one instance: max(FLOPs / peak, bytes / bandwidth)."""
        return max(self.compute_time_s, self.memory_time_s)

    @property
    def ridge_point(self) -> float:
        return self.peak_flop_per_s / self.bandwidth_bytes_per_s

    @property
    def bound(self) -> str:
        return bound_of(self.op.intensity, self.ridge_point) if self.op.flops else MEMORY

    @property
    def attainable_flop_per_s(self) -> float:
        return min(self.peak_flop_per_s, self.op.intensity * self.bandwidth_bytes_per_s)


def bound_of(intensity: float, ridge_point: float) -> str:
    """'compute' above the ridge point, 'memory' at or below it."""
    return COMPUTE if intensity > ridge_point else MEMORY


def place(op: Op, hw: Hardware) -> Timed:
    return Timed(op, hw.peak(op.peak_key), hw.bandwidth_bytes_per_s)
