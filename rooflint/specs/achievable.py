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
from rooflint.specs import fields

# Every parameter's (lower, upper) bound in a file. Fractions are of the datasheet figure.
BOUNDS = {"bandwidth_fraction": (0.05, 1.0), "decode_bandwidth_fraction": (0.05, 1.0),
          "copy_bandwidth_fraction": (0.05, 1.0), "peak_fraction": (0.01, 1.0), "attention_fraction": (0.01, 1.0),
          "kernel_floor_s": (0.0, 1e-3), "attention_floor_s": (0.0, 1e-3),
          "attention_wave_s": (0.0, 1e-3), "link_fraction": (0.01, 1.0),
          "collective_latency_s": (0.0, 1e-2), "network_fraction": (0.01, 1.0), "network_latency_s": (0.0, 1e-2)}
TABLES = ("peak_fraction", "attention_fraction")  # the parameters keyed by dtype or head_dim
# analysis/collectives.py's six numbers per op (each protocol's latency, time per hop, link share)
COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
COLLECTIVE_BOUNDS = {f"{p}_{k}": b for p in ("ll", "simple")
                     for k, b in (("latency_s", (0.0, 1e-2)), ("hop_s", (0.0, 1e-3)), ("fraction", (0.001, 1.0)))}


@dataclass(frozen=True, slots=True)
class Achievable:
    """Achievable ceilings of one GPU as shares of its datasheet figures."""

    bandwidth_fraction: float  # of memory.bandwidth, a kernel streaming its operands (a GEMV, a norm)
    decode_bandwidth_fraction: float  # of memory.bandwidth, decode attention reading a paged KV cache
    peak_fraction: Mapping[str, float]  # dtype key -> of compute.<key>, a large GEMM; "*" for the others
    attention_fraction: Mapping[int, float]  # head_dim -> of the matmul peak, FlashAttention's prefill
    kernel_floor_s: float  # the least time a kernel takes on the GPU (launch to completion, graphs)
    attention_floor_s: float  # the same for an attention kernel (paged-KV lookups, split-K setup)
    attention_wave_s: float  # the least time of one wave of FlashAttention thread blocks at head_dim 128
    # (load a Q tile, one K/V tile, softmax, write O: a pipeline that short work never fills)
    link_fraction: float  # of interconnect, a large all-reduce's bus bandwidth
    collective_latency_s: float  # a small all-reduce's time
    copy_bandwidth_fraction: float  # of memory.bandwidth, a device-to-device copy (read and write the
    # same bytes: the bus turns around, so a bandwidth test reaches less than a read-mostly GEMV)
    network_fraction: float = 0.8  # of the per-GPU network, a collective's share across nodes
    network_latency_s: float = 5e-6  # what each hop between nodes adds
    # op -> COLLECTIVE_BOUNDS' parameters (NCCL's LL and Simple protocols, analysis/collectives.py)
    collectives: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: PRIOR_COLLECTIVES)
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


# dtypes whose GEMMs run at another's share: fp16 and bf16 share the tensor cores' rate on every
# GPU rooflint knows, so one fitted share serves both.
PEAK_ALIASES = {"fp16": "bf16"}

PRIOR_COLLECTIVES = {op: {"ll_latency_s": 6e-6, "ll_hop_s": 8e-7, "ll_fraction": 0.12, "simple_latency_s": 2.5e-5,
                           "simple_hop_s": 1e-7, "simple_fraction": 0.35} for op in COLLECTIVE_OPS}
"""Round figures of NCCL on NVLink (fractions of the profile's bidirectional interconnect figure)."""

PRIOR = Achievable(
    bandwidth_fraction=0.85, decode_bandwidth_fraction=0.75,
    peak_fraction={"*": 0.75, "bf16": 0.75, "fp8": 0.6, "int8": 0.6, "fp32": 0.8},
    attention_fraction={64: 0.4, 128: 0.55, 192: 0.55, 256: 0.55, 512: 0.4}, kernel_floor_s=3e-6, attention_floor_s=6e-6,
    attention_wave_s=5e-6,
    link_fraction=0.4, collective_latency_s=1.5e-5, copy_bandwidth_fraction=0.8,
    source={k: "prior: round figures of vendor tuning guides, used when no fit covers the GPU"
            for k in (*BOUNDS, "collectives")})
"""For a Hardware built in code without a fit; catalog.py attaches the fitted values."""


def achievable_from_mapping(raw: object, where: str, prefix: str = "achievable") -> Achievable:
    """An `achievable` section: every parameter present, finite and within BOUNDS (an older file
    without copy_bandwidth_fraction copies at its streaming share; one without attention_wave_s has
    no wave term)."""
    if not isinstance(raw, Mapping):
        raise SpecError(where, prefix, "expected a mapping")
    fields.known_keys(raw, {*BOUNDS, "collectives", "source"}, where, prefix + ".")
    values: dict[str, object] = {}
    for key, (lo, hi) in BOUNDS.items():
        at = f"{prefix}.{key}"
        value = raw.get(key, raw.get("bandwidth_fraction") if key == "copy_bandwidth_fraction"
                        else _OPTIONAL.get(key))
        if key not in TABLES:
            values[key] = fields.bounded(where, at, value, lo, hi)
            continue
        if not isinstance(value, Mapping) or not value:
            raise SpecError(where, at, "expected a non-empty mapping")
        if key == "attention_fraction" and not all(fields.is_int(k) and k > 0 for k in value):
            raise SpecError(where, at, "expected positive head_dims as the keys")
        values[key] = {k if key == "attention_fraction" else str(k): fields.bounded(where, f"{at}.{k}", v, lo, hi)
                       for k, v in value.items()}
    if "*" not in values["peak_fraction"]:
        raise SpecError(where, f"{prefix}.peak_fraction", "expected a '*' entry: the share of the dtypes not listed")
    values["collectives"] = _collectives(raw.get("collectives"), where, f"{prefix}.collectives")
    source = fields.mapping(where, f"{prefix}.source", raw.get("source")) or {}
    return Achievable(**values, source={str(k): fields.text(where, f"{prefix}.source.{k}", v, optional=False)
                                        for k, v in source.items()})


# what an older file without them gets: no wave term; the priors of the collectives across nodes
_OPTIONAL = {"attention_wave_s": 0.0, "network_fraction": 0.8, "network_latency_s": 5e-6}


def _collectives(raw: object, where: str, at: str) -> Mapping[str, Mapping[str, float]]:
    """The per-op collective parameters: every op given has all six; an op not given has the prior's."""
    if raw is None:
        return PRIOR_COLLECTIVES
    if not isinstance(raw, Mapping):
        raise SpecError(where, at, "expected a mapping of collective ops")
    fields.known_keys(raw, set(COLLECTIVE_OPS), where, at + ".")
    out = dict(PRIOR_COLLECTIVES)
    for op, params in raw.items():
        if not isinstance(params, Mapping):
            raise SpecError(where, f"{at}.{op}", "expected a mapping")
        fields.known_keys(params, set(COLLECTIVE_BOUNDS), where, f"{at}.{op}.")
        out[op] = {k: fields.bounded(where, f"{at}.{op}.{k}", params.get(k), lo, hi)
                   for k, (lo, hi) in COLLECTIVE_BOUNDS.items()}
    return out


def achievable_document(a: Achievable) -> dict:
    """The section as a profile or fitted.yaml writes it (read back by achievable_from_mapping)."""
    return {**{k: dict(getattr(a, k)) if k in TABLES else getattr(a, k) for k in BOUNDS},
            "collectives": {op: dict(v) for op, v in a.collectives.items()}, "source": dict(a.source)}
