"""An inference engine as the forecast sees it: how it launches kernels, what it fuses, what one
forward pass costs beyond its kernels, and how well its kernels use the GPU's achievable ceilings.

Presets live in `engines/*.yaml` (gpt-fast, vllm, sglang, trtllm, llama.cpp, hf); DEFAULT_ENGINE
is the one a forecast uses when none is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rooflint.errors import SpecError
from rooflint.specs import fields

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
    fields.known_keys(raw, _FIELDS, where)

    def number(key: str, lo: float, hi: float) -> float:
        return fields.bounded(where, key, raw.get(key), lo, hi)

    def flag(key: str) -> bool:
        if raw.get(key) is None:
            raise SpecError(where, key, "missing")
        return fields.flag(where, key, raw[key])

    dequant = fields.mapping(where, "dequant_efficiency", raw.get("dequant_efficiency")) or {}
    notes = raw.get("notes") or []
    if not isinstance(notes, list):
        raise SpecError(where, "notes", f"expected a list of text, got {fields.show(notes)}")
    return Engine(
        name=fields.name(where, "name", raw.get("name")), description=fields.text(where, "description",
                                                                                 raw.get("description")),
        graphs=flag("graphs"), launch_s=number("launch", 0, 1e-3), step_overhead_s=number("step_overhead", 0, 1.0),
        fuses_elementwise=flag("fuses_elementwise"), gemm_efficiency=number("gemm_efficiency", 0.05, 2),
        attention_efficiency=number("attention_efficiency", 0.05, 2),
        decode_attention_efficiency=number("decode_attention_efficiency", 0.05, 2),
        dequant_efficiency={str(k): fields.bounded(where, f"dequant_efficiency.{k}", v, 0.01, 1)
                            for k, v in dequant.items()},
        allreduce_latency_s=number("allreduce_latency", 0, 1e-2),
        source=fields.text(where, "source", raw.get("source")), path=where,
        notes=tuple(fields.text(where, f"notes[{i}]", n, optional=False) for i, n in enumerate(notes)))
