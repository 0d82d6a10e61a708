"""A hardware profile: frozen, validated values in base units (bytes, FLOP/s, B/s).

Loading files is catalog.py's job; this module only holds and checks values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from rooflint.dtypes import DType
from rooflint.errors import SpecError
from rooflint.specs.achievable import PRIOR, Achievable


@dataclass(frozen=True, slots=True)
class Hardware:
    """One accelerator. Peaks are dense (no 2:4 sparsity), per dtype, in FLOP/s."""

    name: str
    description: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    peak_flop_per_s: Mapping[str, float]  # dtype name -> dense peak; "fp32" is the vector unit
    sm_count: int | None = None
    sram_per_sm_bytes: float | None = None  # max shared memory per SM (FlashAttention's M)
    l2_bytes: float | None = None
    interconnect_bytes_per_s: float | None = None
    network_bytes_per_s: float | None = None  # per GPU between nodes: its NIC's line rate, one way
    vendor: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""
    path: str = ""  # the file it came from
    # A measured profile's ceiling -> how it was measured (kernel, size, backend, date, ...).
    provenance: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    # Small-shape losses fitted by `rooflint measure` (zero for datasheet profiles): a fixed cost
    # per kernel, and per dtype key the work F_half a matmul loses to ramp-up (Hockney's half-
    # performance work: a matmul of F FLOPs takes (F + F_half) / peak).
    kernel_overhead_s: float = 0.0
    matmul_half_flop: Mapping[str, float] = field(default_factory=dict)
    device_names: tuple[str, ...] = ()  # names the driver reports for this part (detection)
    achievable: Achievable = PRIOR  # what good kernels reach: the forecast's parameters

    def __post_init__(self) -> None:
        # Light checks for any caller (a file's bounds are catalog.py's): figures are finite
        # numbers, positive where they divide; counts are integers.
        where = self.path or self.name
        if not isinstance(self.name, str) or not isinstance(self.path, str):
            raise SpecError(str(where), "name", "expected text")
        figures = {"memory.capacity": self.capacity_bytes, "memory.bandwidth": self.bandwidth_bytes_per_s,
                   "sram_per_sm": self.sram_per_sm_bytes, "l2_cache": self.l2_bytes,
                   "interconnect": self.interconnect_bytes_per_s, "network": self.network_bytes_per_s}
        figures.update({f"compute.{k}": v for k, v in self.peak_flop_per_s.items()})
        for key, value in figures.items():
            if value is not None and not _finite(value, positive=True):
                raise SpecError(where, key, f"expected a finite positive figure, got {value!r}")
        if not self.peak_flop_per_s:
            raise SpecError(where, "compute", "expected at least one dtype peak")
        losses = {"calibration.kernel_overhead": self.kernel_overhead_s,
                  **{f"calibration.matmul_half_work.{k}": v for k, v in self.matmul_half_flop.items()}}
        for key, value in losses.items():
            if not _finite(value, positive=False):
                raise SpecError(where, key, f"expected a finite figure >= 0, got {value!r}")
        if self.sm_count is not None and (isinstance(self.sm_count, bool) or not isinstance(self.sm_count, int)
                                          or self.sm_count <= 0):
            raise SpecError(where, "sm_count", f"expected a positive integer, got {self.sm_count!r}")

    @property
    def calibrated(self) -> bool:
        return bool(self.kernel_overhead_s or self.matmul_half_flop)

    def peak(self, key: str) -> float:
        """Peak FLOP/s for a dtype key; a clear error if the chip has no such unit."""
        try:
            return self.peak_flop_per_s[key]
        except KeyError:
            have = ", ".join(self.peak_flop_per_s)
            raise SpecError(self.path or self.name, f"compute.{key}",
                            f"{self.name} has no {key} peak (it has: {have})") from None

    def ridge_point(self, key: str) -> float:
        """FLOP per byte at which an op in this dtype turns compute-bound: peak / bandwidth."""
        return self.peak(key) / self.bandwidth_bytes_per_s

    def supports(self, dt: DType) -> bool:
        return dt.peak_key in self.peak_flop_per_s


def _finite(value: object, *, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and (value > 0 if positive else value >= 0)
    except OverflowError:  # an int too large for a float
        return False


def freeze(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))
