"""Data types: exact bit widths, the scales a quantized format stores, and which compute peak a
matmul in that type runs at.

Bytes per element come from bits (int4 is 0.5 B, never ``4 // 8 == 0``) plus the format's scale
bytes shared by a group of elements:

- int8/int4 (GPTQ, AWQ, KIVI-style KV): one fp16 scale per group (weights 128, KV 64), and an
  asymmetric format adds a packed zero point of the element's width per group.
- fp8 e4m3: per-tensor (negligible per element) or DeepSeek-style 128x128 blocks with one fp32
  scale each (4 B per 16,384 elements).
- MXFP4 (OCP microscaling): e2m1 elements, one e8m0 scale byte per 32 -> 4.25 bits.
- NVFP4: e2m1 elements, one fp8 e4m3 scale per 16 -> 4.5 bits, plus one fp32 scale per tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.errors import SpecError


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    bits: int
    peak_key: str  # key of Hardware.peak_flop_per_s that matmuls in this type run at
    scale_bytes: float = 0.0  # bytes of one group's scale (0: a float type with no groups)
    weight_group: int | None = None  # default elements per scale for weights
    kv_group: int | None = None  # likewise for the KV cache
    fixed_group: bool = False  # the format defines its group (MXFP4 32, NVFP4 16)
    description: str = ""

    @property
    def bytes(self) -> float:
        """Bytes per element (0.5 for int4), scales not included."""
        return self.bits / 8


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("fp64", 64, "fp64"),  # CPU DGEMM ceiling (rooflint measure)
        DType("fp32", 32, "fp32"),
        DType("tf32", 32, "tf32"),  # stored as fp32, multiplied on tensor cores
        DType("fp16", 16, "fp16"),
        DType("bf16", 16, "bf16"),
        DType("fp8", 8, "fp8", scale_bytes=4.0, description="e4m3; per-tensor scale, or fp32 per 128x128 block"),
        DType("int8", 8, "int8", scale_bytes=2.0, kv_group=64, description="fp16 scale per group"),
        DType("int4", 4, "int4", scale_bytes=2.0, weight_group=128, kv_group=64,
              description="fp16 scale per group (GPTQ/AWQ 128, KV 64)"),
        DType("fp4", 4, "fp4", description="e2m1, no scales (see mxfp4, nvfp4)"),
        DType("mxfp4", 4, "fp4", scale_bytes=1.0, weight_group=32, kv_group=32, fixed_group=True,
              description="e2m1 + one e8m0 scale per 32 (OCP MX)"),
        DType("nvfp4", 4, "fp4", scale_bytes=1.0, weight_group=16, kv_group=16, fixed_group=True,
              description="e2m1 + one fp8 e4m3 scale per 16, and an fp32 scale per tensor"),
    )
}

# Elementwise work (norms, softmax, activations, residual adds) runs on the vector units in
# fp32 whatever the storage type, so it is held against this peak.
VECTOR_PEAK_KEY = "fp32"
PEAK_KEYS = tuple(dict.fromkeys(d.peak_key for d in DTYPES.values()))


def dtype(name: str, field: str = "--dtype") -> DType:
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise SpecError(field, None, f"unknown dtype '{name}'; expected one of {', '.join(DTYPES)}") from None


def element_bytes(dt: DType, group_size: int | None, zero_point: bool = False) -> float:
    """Bytes per stored element including its group's scale (and packed zero point):
    bits/8 + (scale + zero)/group."""
    if not group_size:
        return dt.bytes
    return dt.bytes + (dt.scale_bytes + (dt.bytes if zero_point else 0.0)) / group_size


def default_group_size(dt: DType, role: str) -> int | None:
    """Elements per scale when none is given: the format's own group (MXFP4 32, NVFP4 16),
    weights int4 in groups of 128 (GPTQ/AWQ), KV int8/int4 in groups of 64 (KIVI-style); fp8 and
    int8 weights use per-tensor/per-channel scales, negligible per element."""
    return dt.weight_group if role == "weight" else dt.kv_group
