"""Parameter count of a model, broken into named parts (nanoGPT's sizing habit), and split into
the weights a weight dtype applies to (the decoder's linear layers: attention projections, MLPs,
experts) and the rest (embedding, lm_head, router, norms, biases), which quantized checkpoints
keep 16-bit.
"""

from __future__ import annotations

from functools import lru_cache

from rooflint.analysis.expr import add, sym
from rooflint.analysis.terms import Figure, evaluate_figures, figure
from rooflint.specs import Model

N_q, N_h, b_w, b_h = sym("N_q N_h b_w b_h")


def _attention(m: Model) -> tuple[int, int]:
    """(linear weights, other parameters) of one layer's attention."""
    D, d = m.hidden_size, m.head_dim
    if m.is_mla:
        H, q_dim = m.num_attention_heads, m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q, q_norm = D * m.q_lora_rank + m.q_lora_rank * H * q_dim, m.q_lora_rank
        else:
            q, q_norm = D * H * q_dim, 0
        kv = D * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * H * (m.qk_nope_head_dim + m.v_head_dim)
        return q + kv + H * m.v_head_dim * D, q_norm + m.kv_lora_rank
    q_out, kv_out = m.num_attention_heads * d, m.num_key_value_heads * d
    other = (q_out + 2 * kv_out if m.qkv_bias else 0) + (D if m.o_bias else 0) + (2 * d if m.qk_norm else 0)
    return D * q_out + 2 * D * kv_out + q_out * D, other


def _mlp(m: Model, width: int) -> tuple[int, int]:
    D = m.hidden_size
    weights = (3 if m.mlp == "gated" else 2) * D * width
    bias = ((2 * width if m.mlp == "gated" else width) + D) if m.mlp_bias and width else 0
    return weights, bias


@lru_cache(maxsize=256)
def parameter_parts(m: Model) -> dict[str, tuple[int, int]]:
    """part -> (linear weights, other parameters); per-layer parts multiplied by their layers."""
    D, V, L = m.hidden_size, m.vocab_size, m.num_hidden_layers
    norm = D * (2 if m.norm == "layernorm" else 1)  # LayerNorm has a bias
    moe_layers = L - m.first_dense_layers if m.is_moe else 0
    attn, dense = _attention(m), _mlp(m, m.intermediate_size)
    experts = _mlp(m, m.moe_intermediate_size or 0)
    shared = _mlp(m, m.num_shared_experts * (m.moe_intermediate_size or 0))
    scale = lambda n, part: (n * part[0], n * part[1])  # noqa: E731
    return {
        "embedding": (0, V * D),
        "position_embedding": (0, (m.max_position_embeddings or 0) * D if m.position_embedding == "learned" else 0),
        "attention": scale(L, attn),
        "mlp": scale(L - moe_layers, dense),
        "router": (0, moe_layers * D * (m.num_experts or 0)),
        "experts": scale(moe_layers * (m.num_experts or 0), experts),
        "shared_experts": scale(moe_layers, shared),
        "layer_norms": (0, L * m.norms_per_layer * norm),
        "final_norm": (0, norm),
        "lm_head": (0, 0 if m.tie_word_embeddings else V * D),
    }


def parameter_breakdown(m: Model) -> dict[str, int]:
    """Parameters by part; the total is their sum."""
    return {k: a + b for k, (a, b) in parameter_parts(m).items()}


def parameter_count(m: Model) -> int:
    return sum(parameter_breakdown(m).values())


def quantizable_count(m: Model) -> int:
    """The decoder's linear-layer weights: what a weight dtype applies to by default."""
    return sum(a for a, _ in parameter_parts(m).values())


def active_parameter_count(m: Model) -> int:
    """Parameters one token uses: all but the routed experts it is not sent to."""
    parts = parameter_breakdown(m)
    if not m.is_moe:
        return sum(parts.values())
    return sum(parts.values()) - parts["experts"] * (m.num_experts - m.num_experts_per_tok) // m.num_experts


def weight_figures(prefix: str = "memory.") -> list[Figure]:
    return [figure(f"{prefix}weights_bytes", N_q * b_w + N_h * b_h, "bytes",
                   "N_q linear-layer weights at b_w, the N_h others (embedding, lm_head, routers, norms, biases) at b_h")]


def weight_constants(m: Model, b_w_value: float, b_h_value: float) -> dict[str, float]:
    n_q = quantizable_count(m)
    return {"N_q": n_q, "N_h": parameter_count(m) - n_q, "b_w": b_w_value, "b_h": b_h_value}


def parameter_terms(m: Model, key: str) -> list:
    """The parameter count as the sum of its named parts (each part a bound value)."""
    parts = {k: v for k, v in parameter_breakdown(m).items() if v}
    expr = add(*(sym(f"N_{k}") for k in parts))
    return evaluate_figures([figure(key, expr, "count", "parameters by part")], {f"N_{k}": v for k, v in parts.items()})
