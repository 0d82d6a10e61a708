"""Hybrid decoders whose linear-attention layers keep a recurrent state: qwen3_next (Gated DeltaNet
beside gated full attention, a sparse MoE with a gated shared expert)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooflint.specs.families.common import head_dim_of, layers_of, rotary_dim
from rooflint.specs.families.dense import llama_like
from rooflint.specs.families.moe import sparse_layers

# Qwen3NextConfig's defaults for fields a file may leave out
QWEN3_NEXT_DEFAULTS = {"head_dim": 256, "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
                       "shared_expert_intermediate_size": 512, "partial_rotary_factor": 0.25}


def qwen3_next(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Qwen3-Next (modeling_qwen3_next.py, Qwen3NextConfig): every full_attention_interval-th layer
    is gated full attention (q_proj doubled for a sigmoid output gate, per-head q/k norms,
    partial rotary), the others Gated DeltaNet; MoE as Qwen3-MoE plus one shared expert of
    shared_expert_intermediate_size behind a sigmoid gate."""
    raw = {**QWEN3_NEXT_DEFAULTS, **raw}
    out = llama_like(raw, "qwen3")
    layers = layers_of(raw)
    if not out["layer_types"] and layers is not None:
        interval = raw.get("full_attention_interval", 4)
        out["layer_types"] = tuple("full_attention" if (i + 1) % interval == 0 else "linear_attention"
                                   for i in range(layers))
    experts = raw.get("num_experts")
    out.update(attn_output_gate=True, rotary_dim=rotary_dim(raw, head_dim_of(raw)),
               sliding_window=None,
               linear_num_key_heads=raw.get("linear_num_key_heads", 16),
               linear_num_value_heads=raw.get("linear_num_value_heads", 32),
               linear_key_head_dim=raw.get("linear_key_head_dim", 128),
               linear_value_head_dim=raw.get("linear_value_head_dim", 128),
               linear_conv_kernel_dim=raw.get("linear_conv_kernel_dim", 4),
               num_experts=experts, num_experts_per_tok=raw.get("num_experts_per_tok", 10),
               moe_intermediate_size=raw.get("moe_intermediate_size"),
               shared_expert_intermediate_size=raw.get("shared_expert_intermediate_size"),
               num_shared_experts=1 if raw.get("shared_expert_intermediate_size") else 0,
               shared_expert_gate=bool(raw.get("shared_expert_intermediate_size")),
               mlp_layer_types=sparse_layers(raw, experts))
    return out
