"""What a good kernel reaches on one GPU, as fractions of its datasheet figures: the parameters of
the forecast (analysis/forecast.py), each with the data it was fitted on.

The built-in values live in `hardware/achievable/fitted.yaml` beside the profiles, written by
`bench/fit_forecast.py` from shared/reference/measured: one entry per GPU that the data covers and
a `default` entry (the fit over every GPU pooled) for every other GPU. A profile's own `achievable:`
section (written by `rooflint measure --save-profile`) wins over both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rooflint.errors import SpecError

# Every parameter: (lower, upper) bound a file may give. Fractions are of the datasheet figure.
BOUNDS = {"bandwidth_fraction": (0.05, 1.0), "decode_bandwidth_fraction": (0.05, 1.0), "copy_bandwidth_fraction": (0.05, 1.0),
          "peak_fraction": (0.01, 1.0), "attention_fraction": (0.01, 1.0), "kernel_floor": (0.0, 1e-3),
          "attention_floor": (0.0, 1e-3),
          "link_fraction": (0.01, 1.0), "collective_latency": (0.0, 1e-2)}


@dataclass(frozen=True, slots=True)
class Achievable:
    """Achievable ceilings of one GPU as shares of its datasheet figures."""

    bandwidth_fraction: float  # of memory.bandwidth, a kernel streaming its operands (a GEMV, a norm)
    decode_bandwidth_fraction: float  # of memory.bandwidth, decode attention reading a paged KV cache
    peak_fraction: Mapping[str, float]  # dtype key -> of compute.<key>, a large GEMM; "*" for the others
    attention_fraction: Mapping[int, float]  # head_dim -> of the matmul peak, FlashAttention's prefill
    kernel_floor_s: float  # the least time a kernel takes on the GPU (launch to completion, graphs)
    attention_floor_s: float  # the same for an attention kernel (paged-KV lookups, split-K setup)
    link_fraction: float  # of interconnect, a large all-reduce's bus bandwidth
    collective_latency_s: float  # a small all-reduce's time
    copy_bandwidth_fraction: float  # of memory.bandwidth, a device-to-device copy (read and write the
    # same bytes: the bus turns around, so a bandwidth test reaches less than a read-mostly GEMV)
    source: Mapping[str, str] = field(default_factory=dict)  # parameter -> the data it came from

    def peak_key(self, key: str) -> str:
        """The entry of peak_fraction a dtype's GEMMs use: its own, its alias's, else "*"."""
        key = PEAK_ALIASES.get(key, key)
        return key if key in self.peak_fraction else "*"

    def peak_fraction_of(self, key: str) -> float:
        return self.peak_fraction[self.peak_key(key)]

    def attention_key(self, head_dim: int) -> int:
        """The tabulated head_dim nearest to head_dim (in log2; the larger on a tie)."""
        return min(sorted(self.attention_fraction, reverse=True), key=lambda d: abs(math.log2(d / head_dim)))

    def attention_fraction_of(self, head_dim: int) -> float:
        return self.attention_fraction[self.attention_key(head_dim)]


# dtypes whose GEMMs run at another's share: fp16 and bf16 share the tensor cores' rate on every
# GPU rooflint knows, so one fitted share serves both.
PEAK_ALIASES = {"fp16": "bf16"}

PRIOR = Achievable(
    bandwidth_fraction=0.85, decode_bandwidth_fraction=0.75, peak_fraction={"*": 0.75, "bf16": 0.75, "fp8": 0.6, "int8": 0.6, "fp32": 0.8},
    attention_fraction={64: 0.4, 128: 0.55, 192: 0.55, 256: 0.55}, kernel_floor_s=3e-6, attention_floor_s=6e-6,
    link_fraction=0.4, copy_bandwidth_fraction=0.8,
    collective_latency_s=1.5e-5,
    source={k: "prior: round figures of vendor tuning guides, used when no fit covers the GPU" for k in
            ("bandwidth_fraction", "decode_bandwidth_fraction", "peak_fraction", "attention_fraction",
             "kernel_floor_s", "attention_floor_s", "link_fraction", "collective_latency_s",
             "copy_bandwidth_fraction")})
"""For a Hardware built in code without a fit; catalog.py attaches the fitted values."""


def achievable_from_mapping(raw: object, where: str, prefix: str = "achievable") -> Achievable:
    """An `achievable` section: every fraction and time present, finite and within BOUNDS."""
    if not isinstance(raw, Mapping):
        raise SpecError(where, prefix, "expected a mapping")
    allowed = {"bandwidth_fraction", "decode_bandwidth_fraction", "peak_fraction", "attention_fraction",
               "kernel_floor_s", "attention_floor_s", "link_fraction", "collective_latency_s",
               "copy_bandwidth_fraction", "source"}
    for key in raw:
        if key not in allowed:
            raise SpecError(where, f"{prefix}.{key}", "unknown field")

    def number(value: object, key: str, bound: str) -> float:
        if value is None:
            raise SpecError(where, f"{prefix}.{key}", "missing")
        if isinstance(value, str):  # YAML 1.1 reads 3e-6 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                raise SpecError(where, f"{prefix}.{key}", f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(where, f"{prefix}.{key}", f"expected a number, got {value!r}")
        lo, hi = BOUNDS[bound]
        if not lo <= value <= hi:
            raise SpecError(where, f"{prefix}.{key}", f"{value!r} is outside [{lo:g}, {hi:g}]")
        return float(value)

    def table(key: str, keytype: type) -> dict:
        value = raw.get(key)
        if not isinstance(value, Mapping) or not value:
            raise SpecError(where, f"{prefix}.{key}", "expected a non-empty mapping")
        out = {}
        for k, v in value.items():
            if keytype is int and (isinstance(k, bool) or not isinstance(k, int) or k <= 0):
                raise SpecError(where, f"{prefix}.{key}.{k}", "expected a positive head_dim as the key")
            out[keytype(k)] = number(v, f"{key}.{k}", key)
        return out

    peaks = table("peak_fraction", str)
    if "*" not in peaks:
        raise SpecError(where, f"{prefix}.peak_fraction", "expected a '*' entry: the share of the dtypes not listed")
    source = raw.get("source") or {}
    if not isinstance(source, Mapping) or not all(isinstance(v, str) for v in source.values()):
        raise SpecError(where, f"{prefix}.source", "expected a mapping of parameter -> text")
    return Achievable(
        bandwidth_fraction=number(raw.get("bandwidth_fraction"), "bandwidth_fraction", "bandwidth_fraction"),
        decode_bandwidth_fraction=number(raw.get("decode_bandwidth_fraction"), "decode_bandwidth_fraction",
                                         "decode_bandwidth_fraction"),
        peak_fraction=peaks,
        attention_fraction=table("attention_fraction", int),
        kernel_floor_s=number(raw.get("kernel_floor_s"), "kernel_floor_s", "kernel_floor"),
        attention_floor_s=number(raw.get("attention_floor_s"), "attention_floor_s", "attention_floor"),
        copy_bandwidth_fraction=number(raw.get("copy_bandwidth_fraction", raw.get("bandwidth_fraction")),
                                       "copy_bandwidth_fraction", "copy_bandwidth_fraction"),
        link_fraction=number(raw.get("link_fraction"), "link_fraction", "link_fraction"),
        collective_latency_s=number(raw.get("collective_latency_s"), "collective_latency_s", "collective_latency"),
        source={str(k): v for k, v in source.items()})


def achievable_document(a: Achievable) -> dict:
    """The section as a profile or achievable.yaml writes it (read back by achievable_from_mapping)."""
    return {"bandwidth_fraction": a.bandwidth_fraction, "decode_bandwidth_fraction": a.decode_bandwidth_fraction,
            "peak_fraction": dict(a.peak_fraction), "attention_fraction": dict(a.attention_fraction),
            "kernel_floor_s": a.kernel_floor_s, "attention_floor_s": a.attention_floor_s,
            "copy_bandwidth_fraction": a.copy_bandwidth_fraction,
            "link_fraction": a.link_fraction,
            "collective_latency_s": a.collective_latency_s, "source": dict(a.source)}
