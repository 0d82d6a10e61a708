"""The ops of one forward pass of a decoder-only transformer, for prefill or one decode step.

A pass takes three inputs: B sequences, S_q new tokens each (the prompt in a prefill, 1 in a
decode step) and C tokens in each sequence once they are in (prefix + prompt, or the decode
context). Layers that differ (sliding vs full attention, dense vs MoE MLP) are built as groups
of identical layers; each op's `count` is the number of layers in its group, and op names carry
the group when a model has several (`qk_matmul@sliding`).

Prefill computes logits for the last position of each sequence only (as serving engines do;
all_logits for every position).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from rooflint.analysis import linear_attention, mla, moe
from rooflint.analysis.blocks import (
    CLASS_SYMBOLS,
    D,
    F,
    H_kv,
    H_q,
    Kernels,
    T,
    V,
    b_a,
    b_h,
    b_lm,
    core_attention,
    d,
    linear,
    mlp,
    norm,
    residual,
    rope,
)
from rooflint.analysis.expr import Expr, sym
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, MEMORY, OpForm, op
from rooflint.dtypes import DTYPES, VECTOR_PEAK_KEY
from rooflint.specs import Model
from rooflint.workload import Resolved

B, S_q, T_lm, b_kv, d_rot = sym("B S_q T_lm b_kv d_rot")
PREFILL, DECODE = "prefill", "decode"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LayerGroup:
    count: int
    window: int | None
    moe: bool
    label: str  # suffix for op names when a model has several groups
    kind: str = "full"  # full | sliding | chunked | linear (Model.layer_kind)
    rope: bool = True


@lru_cache(maxsize=256)
def layer_groups(m: Model) -> tuple[LayerGroup, ...]:
    """Identical layers grouped by (attention kind, window, MoE, RoPE), in order of first appearance."""
    counts: dict[tuple[str, int | None, bool, bool], int] = {}
    for i in range(m.num_hidden_layers):
        key = (m.layer_kind(i), m.layer_window(i), m.layer_is_moe(i), m.layer_has_rope(i))
        counts[key] = counts.get(key, 0) + 1
    several = len(counts) > 1
    groups = []
    for (kind, window, is_moe, has_rope), count in counts.items():
        parts = []
        if several and len({c[:2] for c in counts}) > 1:
            parts.append(kind)
        if several and len({c[2] for c in counts}) > 1:
            parts.append("moe" if is_moe else "dense")
        if several and len({c[3] for c in counts}) > 1 and not has_rope:
            parts.append("nope")
        groups.append(LayerGroup(count, window, is_moe, "@" + "-".join(parts) if parts else "", kind, has_rope))
    return tuple(groups)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PhaseForm:
    """Every op of one pass, with the constants and derived symbols its formulas use."""

    phase: str
    ops: tuple[OpForm, ...]
    constants: Mapping[str, float]  # model facts, bytes per element, hardware facts
    defs: tuple[tuple[str, Expr], ...]  # T and T_lm, derived from the inputs
    inputs: tuple[str, ...]  # the symbols a workload gives: B, S_q, C (S_q = 1 in decode)


def constants(m: Model, r: Resolved, phase: str) -> dict[str, float]:
    out: dict[str, float] = {"D": m.hidden_size, "H_q": m.num_attention_heads, "H_kv": m.num_key_value_heads,
                             "d": m.head_dim, "d_v": m.head_dim, "F": m.intermediate_size, "V": m.vocab_size,
                             **_weight_bytes(r), "b_h": r.b_h, "b_a": r.b_a, "b_kv": r.b_kv, "sm": r.sm_count,
                             # K/V of a prefill come fresh from the projections; a decode step reads the cache
                             "b_k": r.b_a if phase == PREFILL else r.b_kv}
    if m.rotary_dim is not None:
        out["d_rot"] = m.rotary_dim
    if m.is_mla:
        out.update(mla.constants(m))
    if m.is_moe:
        out.update(moe.constants(m))
    if m.is_hybrid:
        out.update(linear_attention.constants(m))
    if phase == DECODE:
        out["S_q"] = 1
    return out


def phase_form(m: Model, r: Resolved, phase: str) -> PhaseForm:
    k = Kernels(phase, r.attention, r.act.peak_key, r.causal, r.flash_tile, r.sram_per_sm_bytes, r.act.bytes,
                r.class_peaks)
    ops = model_head(m)
    for g in layer_groups(m):
        ops += layer_ops(m, k, g, r.mla_mode)
    ops += model_tail(m, k.mm_of("lm_head"))
    ops = [_with_weight(o, r) for o in ops]
    defs = (("T", B * S_q), ("T_lm", T if phase == PREFILL and r.all_logits else B))
    inputs = ("B", "S_q", "C") if phase == PREFILL else ("B", "C")
    return PhaseForm(phase, tuple(ops), constants(m, r, phase), defs, inputs)


def weight_label(r: Resolved, weight_class: str | None) -> str:
    """A weight class's stored format in a few characters: its dtype, and the bytes per element its
    scales (and zero points) add, e.g. "mxfp4+0.031", "fp8+0.00024"."""
    if weight_class is None:
        return r.high.name
    fmt, size = dict(r.formats).get(weight_class), dict(r.class_bytes)[weight_class]
    name = fmt.dtype if fmt is not None else r.high.name
    scale = size - DTYPES[name].bytes
    return f"{name}+{scale:.2g}" if scale > 1e-12 else name


_SYMBOL_CLASS = {s: c for c, s in CLASS_SYMBOLS.items()}


def _with_weight(o: OpForm, r: Resolved) -> OpForm:
    if o.kind != MATMUL:
        return o
    names = o.bytes_read.symbols()
    cls = next((_SYMBOL_CLASS[n] for n in names if n in _SYMBOL_CLASS), None)
    if cls is None and "b_h" not in names:
        return o  # attention's matmuls multiply activations
    return replace(o, weight=weight_label(r, cls))


def _weight_bytes(r: Resolved) -> dict[str, float]:
    return {CLASS_SYMBOLS[c]: b for c, b in r.class_bytes}


def _attention_block(m: Model, k: Kernels, g: LayerGroup) -> list[OpForm]:
    """Projections, q/k norms, position encoding, cache append, attention, output gate and projection."""
    n, mm = g.count, k.mm_of("attention")
    q, kv = H_q * d, H_kv * d
    q_out = 2 * q if m.attn_output_gate else q  # Qwen3-Next's q_proj also yields the output gate
    if m.fused_qkv:
        ops = [linear("qkv_proj", n, mm, D, q_out + 2 * kv, m.qkv_bias)]
    else:
        ops = [linear("q_proj", n, mm, D, q_out, m.qkv_bias), linear("k_proj", n, mm, D, kv, m.qkv_bias),
               linear("v_proj", n, mm, D, kv, m.qkv_bias)]
    if m.qk_norm:
        weights = 2 * d if m.qk_norm_scope == "head" else (H_q + H_kv) * d
        ops.append(op("qk_norm", "layer", n, ELEMENTWISE, VECTOR_PEAK_KEY, flops=4 * T * (H_q + H_kv) * d,
                      read=T * (H_q + H_kv) * d * b_a + weights * b_h, write=T * (H_q + H_kv) * d * b_a,
                      note="RMSNorm of q and k " + ("per head" if m.qk_norm_scope == "head" else
                                                     "over the whole projection (OLMo 2)")))
    if g.rope:
        ops.append(rope(n, (H_q + H_kv) * (d_rot if m.rotary_dim is not None else d)))
    ops.append(op("kv_cache_append", "layer", n, MEMORY, VECTOR_PEAK_KEY, read=2 * T * H_kv * d * b_a,
                  write=2 * T * H_kv * d * b_kv, note="the new tokens' K and V stored in the cache"))
    ops += core_attention(k, n, g.window, m.gqa_groups, m.head_dim, chunked=g.kind == "chunked")
    if m.attn_output_gate:
        ops.append(op("attn_gate", "layer", n, ELEMENTWISE, VECTOR_PEAK_KEY, flops=5 * T * q,
                      read=2 * T * q * b_a, write=T * q * b_a, note="attention output * sigmoid(gate)"))
    ops.append(linear("o_proj", n, mm, q, D, m.o_bias))
    return ops


def layer_ops(m: Model, k: Kernels, g: LayerGroup, mla_mode: str) -> list[OpForm]:
    """Ops of the layers of one group, `count` = layers in the group."""
    n = g.count
    ops = [norm("attn_norm", n, m.norm)]
    if g.kind == "linear":
        ops += linear_attention.block(k, n)
    else:
        ops += mla.attention_block(m, k, n, g.window, mla_mode) if m.is_mla else _attention_block(m, k, g)
    if m.norms_per_layer == 4:  # Gemma 2/3 normalise each block's output as well
        ops.append(norm("post_attn_norm", n, m.norm))
    ops.append(residual("attn_residual", n))
    if m.norms_per_layer >= 2:
        ops.append(norm("mlp_norm", n, m.norm))
    ops += moe.moe_ops(m, n, k) if g.moe else mlp(m.mlp, m.hidden_act, n, k.mm_of("mlp"), F, m.mlp_bias,
                                                 fused=m.fused_gate_up)
    if m.norms_per_layer == 4:
        ops.append(norm("post_mlp_norm", n, m.norm))
    ops.append(residual("mlp_residual", n))
    return [o.renamed(g.label) for o in ops] if g.label else ops


def model_head(m: Model) -> list[OpForm]:
    head = [op("embedding", "model", 1, MEMORY, VECTOR_PEAK_KEY, read=T * D * b_h, write=T * D * b_a,
               note="gather of T rows of the table")]
    if m.position_embedding == "learned":
        head.append(op("position_embedding", "model", 1, ELEMENTWISE, VECTOR_PEAK_KEY, flops=T * D,
                       read=T * D * b_h + T * D * b_a, write=T * D * b_a))
    return head


def model_tail(m: Model, mm: str) -> list[OpForm]:
    return [norm("final_norm", 1, m.norm, scope="model"),
            op("lm_head", "model", 1, MATMUL, mm, flops=2 * T_lm * D * V, read=D * V * b_lm + T_lm * D * b_a,
               write=T_lm * V * b_a, note="logits for T_lm rows (last position per sequence in prefill by default)")]


__all__ = ["DECODE", "PREFILL", "LayerGroup", "PhaseForm", "constants", "layer_groups", "layer_ops", "linear",
           "phase_form"]
