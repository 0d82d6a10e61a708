"""Capacity planning: what fits on a GPU (or a tensor-parallel group) after the weights.

Tensor parallelism over N GPUs (Megatron-style) splits the attention heads, the MLP width, the
experts' width and the vocabulary; KV heads are split too, or replicated when there are fewer
than N (each GPU then holds one). MLA's latent cache is shared by all heads, so each GPU holds
all of it. Each layer adds two all-reduces of the activations (after attention and after the
MLP), timed as a ring: 2 (N - 1) / N * bytes / link bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rooflint.analysis.inference import Analysis, Settings, analyze, resolve_precision
from rooflint.analysis.kv_cache import kv_bytes
from rooflint.analysis.params import parameter_count
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model


def shard(m: Model, tp: int) -> Model:
    """The slice of a model one GPU of a tensor-parallel group of `tp` holds."""
    if tp < 1:
        raise SpecError("--tp", None, f"expected 1 or more GPUs, got {tp}")
    if tp == 1:
        return m
    H, kv = m.num_attention_heads, m.num_key_value_heads
    if H % tp:
        raise SpecError("--tp", None, f"{tp} GPUs do not divide {m.name}'s {H} attention heads")
    if kv % tp and tp % kv:
        raise SpecError("--tp", None, f"{tp} GPUs neither divide nor are a multiple of {kv} KV heads")
    for name in ("intermediate_size", "moe_intermediate_size"):
        width = getattr(m, name)
        if width is not None and width % tp:
            raise SpecError("--tp", None, f"{tp} GPUs do not divide {name} {width}")
    return replace(m, num_attention_heads=H // tp, num_key_value_heads=max(1, kv // tp),
                   intermediate_size=m.intermediate_size // tp,
                   moe_intermediate_size=m.moe_intermediate_size // tp if m.moe_intermediate_size else None,
                   vocab_size=math.ceil(m.vocab_size / tp), path=m.path, name=f"{m.name}/tp{tp}")


def activation_workspace_bytes(m: Model, hw: Hardware, settings: Settings, chunk: int) -> float:
    """Largest live activation footprint of one op in a prefill of `chunk` tokens: the op's
    bytes with weights costing nothing (so eager S/P counts, flash's does not)."""
    from rooflint.analysis.transformer import forward_ops, prefill_pass
    from rooflint.analysis.inference import op_options

    act, weight, kv, _, _ = resolve_precision(settings)
    opts = replace(op_options(settings, hw), weight_bytes=0.0)
    ops = forward_ops(m, prefill_pass(1, chunk), act, weight, kv, opts)
    return max(op.bytes for op in ops)


@dataclass(frozen=True, slots=True)
class Plan:
    model: Model  # the whole model
    shard: Model  # what one GPU holds
    hardware: Hardware
    tp: int
    settings: Settings
    memory_utilization: float
    workspace_bytes: float
    weights_bytes: float  # per GPU
    kv_bytes_per_sequence: float  # per GPU, at the context
    max_batch: int  # at the context
    max_context: int  # at the batch
    context_limit: int  # the longest context searched (the model's maximum)
    at_batch: Analysis  # timing per GPU at the requested batch
    allreduce_prefill_s: float
    allreduce_decode_s: float

    @property
    def usable_bytes(self) -> float:
        return self.memory_utilization * self.hardware.capacity_bytes

    @property
    def kv_budget_bytes(self) -> float:
        return self.usable_bytes - self.weights_bytes - self.workspace_bytes

    @property
    def ttft_s(self) -> float:
        return self.at_batch.ttft_s + self.allreduce_prefill_s

    @property
    def tpot_s(self) -> float:
        return self.at_batch.tpot_s + self.allreduce_decode_s


def allreduce_s(tp: int, nbytes: float, link_bytes_per_s: float | None) -> float:
    """Ring all-reduce: each GPU sends and receives 2 (N-1)/N of the buffer."""
    if tp == 1:
        return 0.0
    if not link_bytes_per_s:
        raise SpecError("--tp", None, "the hardware profile has no interconnect bandwidth to time all-reduces")
    return 2 * (tp - 1) / tp * nbytes / link_bytes_per_s


def plan(m: Model, hw: Hardware, settings: Settings, tp: int = 1, memory_utilization: float = 0.9,
         workspace_bytes: float | None = None, chunk: int = 2048) -> Plan:
    if not 0 < memory_utilization <= 1:
        raise SpecError("--mem-util", None, f"expected a fraction in (0, 1], got {memory_utilization}")
    part = shard(m, tp)
    act, _, _, b_w, b_kv = resolve_precision(settings)
    context = settings.decode_context
    workspace = workspace_bytes if workspace_bytes is not None else activation_workspace_bytes(part, hw, settings, chunk)
    weights = parameter_count(part) * b_w
    budget = memory_utilization * hw.capacity_bytes - weights - workspace
    per_seq = kv_bytes(part, b_kv, context, 1, settings.mla_mode)
    max_batch = max(0, int(budget // per_seq)) if budget > 0 else 0
    limit = 1 << 26  # capacity alone decides; the report flags a result past the model's maximum
    lo, hi = 0, limit  # longest context whose cache for the batch fits: kv_bytes is monotone in C
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kv_bytes(part, b_kv, mid, settings.batch, settings.mla_mode) <= budget:
            lo = mid
        else:
            hi = mid - 1
    timing = analyze(part, hw, settings)
    layers = m.num_hidden_layers
    act_bytes = lambda tokens: tokens * m.hidden_size * act.bytes
    return Plan(m, part, hw, tp, settings, memory_utilization, workspace, weights, per_seq, max_batch, lo, limit,
                timing,
                allreduce_prefill_s=2 * layers * allreduce_s(tp, act_bytes(settings.batch * settings.prompt),
                                                             hw.interconnect_bytes_per_s),
                allreduce_decode_s=2 * layers * allreduce_s(tp, act_bytes(settings.batch), hw.interconnect_bytes_per_s))
