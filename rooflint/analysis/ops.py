"""Op: one kernel's FLOPs and bytes, with the formulas and terms they come from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rooflint.analysis.formula import evaluate

MATMUL, ELEMENTWISE, MEMORY = "matmul", "elementwise", "memory"


@dataclass(frozen=True, slots=True)
class Op:
    """One kernel instance. FLOPs and bytes are per instance; `count` instances per pass."""

    name: str
    scope: str  # "layer" or "model"
    count: int
    kind: str  # matmul | elementwise | memory
    peak_key: str  # which Hardware peak bounds its arithmetic
    flops: float
    bytes_read: float
    bytes_written: float
    formulas: Mapping[str, str] = field(default_factory=dict)  # flops/bytes_read/bytes_written
    symbols: Mapping[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """FLOP per byte moved (read + written); 0 for pure data movement."""
        return self.flops / self.bytes if self.bytes else 0.0


def make_op(name: str, scope: str, count: int, kind: str, peak_key: str, symbols: Mapping[str, float],
            *, flops: str = "0", read: str, write: str, note: str = "") -> Op:
    """An Op whose numbers are its formulas evaluated over `symbols`."""
    return Op(
        name=name, scope=scope, count=count, kind=kind, peak_key=peak_key,
        flops=evaluate(flops, symbols), bytes_read=evaluate(read, symbols),
        bytes_written=evaluate(write, symbols),
        formulas={"flops": flops, "bytes_read": read, "bytes_written": write},
        symbols=dict(symbols), note=note,
    )
