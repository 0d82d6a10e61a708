"""An inference engine as the forecast sees it: how it launches kernels, what it fuses, what one
forward pass costs beyond its kernels, and how well its kernels use the GPU's achievable ceilings.

Presets live in `engines/*.yaml` (gpt-fast, vllm, sglang, trtllm, llama.cpp, hf); DEFAULT_ENGINE
is the one a forecast uses when none is named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rooflint.errors import SpecError

DEFAULT_ENGINE = "vllm"


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    description: str
    graphs: bool  # decode replayed as a CUDA graph: no host launch gap between kernels
    launch_s: float  # host time per kernel launched eagerly (the GPU idles unless it is longer)
    step_overhead_s: float  # per forward pass: scheduler, sampling, host synchronisation
    fuses_elementwise: bool  # norms, activations, residuals, RoPE fused into their neighbours
    gemm_efficiency: float  # x the GPU's achievable matmul peak
    attention_efficiency: float  # x the GPU's achievable FlashAttention prefill rate
    decode_attention_efficiency: float  # x the GPU's achievable decode-attention bandwidth
    dequant_efficiency: Mapping[str, float]  # weight-only format -> share of bandwidth its GEMV reaches
    allreduce_latency_s: float  # one small all-reduce (custom one-shot kernels vs NCCL)
    source: str = ""
    path: str = ""
    notes: tuple[str, ...] = field(default=())

    def dequant_of(self, weight_format: str) -> float:
        return self.dequant_efficiency.get(weight_format, 1.0)


_FIELDS = {"name", "description", "graphs", "launch", "step_overhead", "fuses_elementwise", "gemm_efficiency",
           "attention_efficiency", "decode_attention_efficiency", "dequant_efficiency", "allreduce_latency",
           "source", "notes"}


def engine_from_mapping(raw: Mapping, where: str) -> Engine:
    """An engine preset from its parsed YAML; times in seconds (numbers), efficiencies in (0, 2]."""
    for key in raw:
        if key not in _FIELDS:
            raise SpecError(where, str(key), "unknown field")

    def required(key: str) -> object:
        if raw.get(key) is None:
            raise SpecError(where, key, "missing")
        return raw[key]

    def number(key: str, value: object, lo: float, hi: float) -> float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-06 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                raise SpecError(where, key, f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(where, key, f"expected a number, got {value!r}")
        if not lo <= value <= hi:
            raise SpecError(where, key, f"{value!r} is outside [{lo:g}, {hi:g}]")
        return float(value)

    def flag(key: str) -> bool:
        value = required(key)
        if not isinstance(value, bool):
            raise SpecError(where, key, f"expected true or false, got {value!r}")
        return value

    def text(key: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise SpecError(where, key, f"expected text, got {value!r}")
        return value

    dequant = raw.get("dequant_efficiency") or {}
    if not isinstance(dequant, Mapping):
        raise SpecError(where, "dequant_efficiency", "expected a mapping of weight format -> share")
    notes = raw.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise SpecError(where, "notes", "expected a list of text")
    name = required("name")
    if not isinstance(name, str) or not name:
        raise SpecError(where, "name", "expected text")
    return Engine(
        name=name, description=text("description"), graphs=flag("graphs"),
        launch_s=number("launch", required("launch"), 0, 1e-3),
        step_overhead_s=number("step_overhead", required("step_overhead"), 0, 1.0),
        fuses_elementwise=flag("fuses_elementwise"),
        gemm_efficiency=number("gemm_efficiency", required("gemm_efficiency"), 0.05, 2),
        attention_efficiency=number("attention_efficiency", required("attention_efficiency"), 0.05, 2),
        decode_attention_efficiency=number("decode_attention_efficiency", required("decode_attention_efficiency"),
                                           0.05, 2),
        dequant_efficiency={str(k): number(f"dequant_efficiency.{k}", v, 0.01, 1) for k, v in dequant.items()},
        allreduce_latency_s=number("allreduce_latency", required("allreduce_latency"), 0, 1e-2),
        source=text("source"), path=where, notes=tuple(notes))
