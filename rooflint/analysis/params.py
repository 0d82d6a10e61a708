"""Parameter count of a model, broken into named parts (nanoGPT's sizing habit)."""

from __future__ import annotations

from rooflint.specs import Model


def parameter_breakdown(m: Model) -> dict[str, int]:
    """Parameters by part; the total is their sum. Per-layer parts are multiplied by L."""
    D, d, F, V, L = m.hidden_size, m.head_dim, m.intermediate_size, m.vocab_size, m.num_hidden_layers
    q_out, kv_out = m.num_attention_heads * d, m.num_key_value_heads * d
    norm = D * (2 if m.norm == "layernorm" else 1)  # LayerNorm has a bias
    attention = D * q_out + 2 * D * kv_out + q_out * D
    if m.qkv_bias:
        attention += q_out + 2 * kv_out
    if m.o_bias:
        attention += D
    if m.qk_norm:
        attention += 2 * d
    mlp = (3 if m.mlp == "gated" else 2) * D * F
    if m.mlp_bias:
        mlp += (2 * F if m.mlp == "gated" else F) + D
    parts = {
        "embedding": V * D,
        "position_embedding": (m.max_position_embeddings or 0) * D if m.position_embedding == "learned" else 0,
        "attention": L * attention,
        "mlp": L * mlp,
        "layer_norms": L * m.norms_per_layer * norm,
        "final_norm": norm,
        "lm_head": 0 if m.tie_word_embeddings else V * D,
    }
    return parts


def parameter_count(m: Model) -> int:
    return sum(parameter_breakdown(m).values())
