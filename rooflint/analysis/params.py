"""Parameter count of a model, broken into named parts (nanoGPT's sizing habit)."""

from __future__ import annotations

from rooflint.specs import Model


def _attention_params(m: Model) -> int:
    D, d = m.hidden_size, m.head_dim
    if m.is_mla:
        H, q_dim = m.num_attention_heads, m.qk_nope_head_dim + m.qk_rope_head_dim
        q = (D * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * H * q_dim) if m.q_lora_rank else D * H * q_dim
        kv = D * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank \
            + m.kv_lora_rank * H * (m.qk_nope_head_dim + m.v_head_dim)
        return q + kv + H * m.v_head_dim * D
    q_out, kv_out = m.num_attention_heads * d, m.num_key_value_heads * d
    params = D * q_out + 2 * D * kv_out + q_out * D
    if m.qkv_bias:
        params += q_out + 2 * kv_out
    if m.o_bias:
        params += D
    if m.qk_norm:
        params += 2 * d
    return params


def _mlp_params(m: Model, width: int) -> int:
    D = m.hidden_size
    params = (3 if m.mlp == "gated" else 2) * D * width
    if m.mlp_bias:
        params += (2 * width if m.mlp == "gated" else width) + D
    return params


def parameter_breakdown(m: Model) -> dict[str, int]:
    """Parameters by part; the total is their sum. Per-layer parts are multiplied by layers."""
    D, V, L = m.hidden_size, m.vocab_size, m.num_hidden_layers
    norm = D * (2 if m.norm == "layernorm" else 1)  # LayerNorm has a bias
    moe_layers = L - m.first_dense_layers if m.is_moe else 0
    parts = {
        "embedding": V * D,
        "position_embedding": (m.max_position_embeddings or 0) * D if m.position_embedding == "learned" else 0,
        "attention": L * _attention_params(m),
        "mlp": (L - moe_layers) * _mlp_params(m, m.intermediate_size),
        "router": moe_layers * D * (m.num_experts or 0),
        "experts": moe_layers * (m.num_experts or 0) * _mlp_params(m, m.moe_intermediate_size or 0),
        "shared_experts": moe_layers * _mlp_params(m, m.num_shared_experts * (m.moe_intermediate_size or 0))
        if m.num_shared_experts else 0,
        "layer_norms": L * m.norms_per_layer * norm,
        "final_norm": norm,
        "lm_head": 0 if m.tie_word_embeddings else V * D,
    }
    return parts


def parameter_count(m: Model) -> int:
    return sum(parameter_breakdown(m).values())


def active_parameter_count(m: Model) -> int:
    """Parameters one token uses: all but the routed experts it is not sent to."""
    parts = parameter_breakdown(m)
    if not m.is_moe:
        return sum(parts.values())
    return sum(parts.values()) - parts["experts"] * (m.num_experts - m.num_experts_per_tok) // m.num_experts
