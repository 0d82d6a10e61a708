"""Data types: exact bit widths, and which compute peak a matmul in that type runs at.

Bytes per element come from bits (int4 is 0.5 B, never ``4 // 8 == 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.errors import SpecError


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    bits: int
    peak_key: str  # key of Hardware.peak_flop_per_s that matmuls in this type run at

    @property
    def bytes(self) -> float:
        """Bytes per element (0.5 for int4)."""
        return self.bits / 8


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("fp64", 64, "fp64"),  # CPU DGEMM ceiling (rooflint measure)
        DType("fp32", 32, "fp32"),
        DType("tf32", 32, "tf32"),  # stored as fp32, multiplied on tensor cores
        DType("fp16", 16, "fp16"),
        DType("bf16", 16, "bf16"),
        DType("fp8", 8, "fp8"),
        DType("int8", 8, "int8"),
        DType("int4", 4, "int4"),
    )
}

# Elementwise work (norms, softmax, activations, residual adds) runs on the vector units in
# fp32 whatever the storage type, so it is held against this peak.
VECTOR_PEAK_KEY = "fp32"


def dtype(name: str, field: str = "--dtype") -> DType:
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise SpecError(field, None, f"unknown dtype '{name}'; expected one of {', '.join(DTYPES)}") from None


SCALE_BYTES = 2  # one fp16 scale per group


def element_bytes(dt: DType, group_size: int | None) -> float:
    """Bytes per stored element including quantization scales: bits/8 + 2/group (fp16 scale)."""
    return dt.bytes + (SCALE_BYTES / group_size if group_size else 0.0)


def default_group_size(dt: DType, role: str) -> int | None:
    """Per-group scales for integer types: KV int8/int4 in groups of 64 (KIVI-style), weights
    int4 in groups of 128 (GPTQ/AWQ); fp8 and int8 weights use per-tensor/per-channel scales,
    negligible per element; float types need none."""
    if dt.name == "int4":
        return 64 if role == "kv" else 128
    if dt.name == "int8" and role == "kv":
        return 64
    return None
