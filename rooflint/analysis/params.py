"""Parameter count of a model, broken into named parts (nanoGPT's sizing habit), and split by the
weight class a checkpoint's format applies to (specs/quantization.py: attention projections,
dense MLPs, shared experts, routed experts, lm_head) and the rest (embedding, routers, norms,
biases, gates, sinks, a vision tower), which quantized checkpoints keep 16-bit.

A multi-token-prediction module (DeepSeek-V3, GLM-4.5) is counted apart: it is not part of the
model that decodes, and serving loads it only for speculative decoding.
"""

from __future__ import annotations

from functools import lru_cache

from rooflint.analysis.blocks import CLASS_SYMBOLS
from rooflint.analysis.expr import add, sym
from rooflint.analysis.terms import Figure, evaluate_figures, figure
from rooflint.specs import Model

# parameter part -> its weight class (parts not listed stay 16-bit: b_h)
PART_CLASS = {"attention": "attention", "linear_attention": "attention", "mlp": "mlp",
              "shared_experts": "shared_experts", "experts": "experts", "lm_head": "lm_head"}


def _attention(m: Model) -> tuple[int, int]:
    """(linear weights, other parameters) of one softmax-attention layer."""
    D, d = m.hidden_size, m.head_dim
    sinks = m.num_attention_heads if m.attention_sinks else 0
    if m.is_mla:
        H, q_dim = m.num_attention_heads, m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q, q_norm = D * m.q_lora_rank + m.q_lora_rank * H * q_dim, m.q_lora_rank
        else:
            q, q_norm = D * H * q_dim, 0
        kv = D * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * H * (m.qk_nope_head_dim + m.v_head_dim)
        return q + kv + H * m.v_head_dim * D, q_norm + m.kv_lora_rank + sinks
    q_out, kv_out = m.num_attention_heads * d, m.num_key_value_heads * d
    gate = q_out if m.attn_output_gate else 0  # q_proj yields the output gate too (Qwen3-Next)
    norms = 0
    if m.qk_norm:
        norms = 2 * d if m.qk_norm_scope == "head" else q_out + kv_out
    other = (q_out + 2 * kv_out if m.qkv_bias else 0) + (D if m.o_bias else 0) + norms + sinks
    return D * (q_out + gate) + 2 * D * kv_out + q_out * D, other


def linear_attention(m: Model) -> tuple[int, int]:
    """(linear weights, other) of one Gated DeltaNet layer (Qwen3NextGatedDeltaNet): in_proj_qkvz
    D -> 2 n_k d_k + 2 n_v d_v, in_proj_ba D -> 2 n_v, out_proj n_v d_v -> D; a depthwise conv
    over q, k, v (kernel K), dt_bias and A_log per value head, a gated RMSNorm of d_v."""
    D, nk, nv = m.hidden_size, m.linear_num_key_heads, m.linear_num_value_heads
    key, value = nk * m.linear_key_head_dim, nv * m.linear_value_head_dim
    weights = D * (2 * key + 2 * value) + D * 2 * nv + value * D
    return weights, (2 * key + value) * m.linear_conv_kernel_dim + 2 * nv + m.linear_value_head_dim


def _mlp(m: Model, width: int, bias: bool) -> tuple[int, int]:
    D = m.hidden_size
    weights = (3 if m.mlp == "gated" else 2) * D * width
    biases = ((2 * width if m.mlp == "gated" else width) + D) if bias and width else 0
    return weights, biases


def _layer_counts(m: Model) -> tuple[int, int, int]:
    """(softmax-attention layers, linear-attention layers, MoE layers)."""
    linear = sum(1 for i in range(m.num_hidden_layers) if m.layer_kind(i) == "linear")
    moe = sum(1 for i in range(m.num_hidden_layers) if m.layer_is_moe(i))
    return m.num_hidden_layers - linear, linear, moe


def _moe_layer(m: Model) -> dict[str, tuple[int, int]]:
    """One MoE layer's router, routed experts and shared experts."""
    E = m.num_experts or 0
    R = m.router_experts or E
    return {"router": (0, m.hidden_size * R + (R if m.router_bias else 0)),
            "experts": tuple(E * n for n in _mlp(m, m.moe_intermediate_size or 0, m.expert_bias)),
            "shared_experts": _mlp(m, m.shared_width, m.mlp_bias),
            "shared_expert_gate": (0, m.hidden_size if m.shared_expert_gate else 0)}


@lru_cache(maxsize=256)
def parameter_parts(m: Model) -> dict[str, tuple[int, int]]:
    """part -> (linear weights, other parameters); per-layer parts multiplied by their layers."""
    D, V, L = m.hidden_size, m.vocab_size, m.num_hidden_layers
    norm = D * (2 if m.norm == "layernorm" else 1)  # LayerNorm has a bias
    softmax_layers, linear_layers, moe_layers = _layer_counts(m)
    scale = lambda n, part: (n * part[0], n * part[1])  # noqa: E731
    moe = _moe_layer(m)
    return {
        "embedding": (0, V * D),
        "position_embedding": (0, (m.max_position_embeddings or 0) * D if m.position_embedding == "learned" else 0),
        "attention": scale(softmax_layers, _attention(m)),
        "linear_attention": scale(linear_layers, linear_attention(m)) if linear_layers else (0, 0),
        "mlp": scale(L - moe_layers, _mlp(m, m.intermediate_size, m.mlp_bias)),
        **{k: scale(moe_layers, v) for k, v in moe.items()},
        "layer_norms": (0, L * m.norms_per_layer * norm),
        "final_norm": (0, norm),
        "lm_head": (0 if m.tie_word_embeddings else V * D, 0),
        "vision": (0, m.vision_parameters),
    }


def parameter_breakdown(m: Model) -> dict[str, int]:
    """Parameters by part; the total is their sum."""
    return {k: a + b for k, (a, b) in parameter_parts(m).items()}


def parameter_count(m: Model) -> int:
    return sum(parameter_breakdown(m).values())


def text_parameter_count(m: Model) -> int:
    """The decoder's parameters (a multimodal checkpoint's vision tower left out)."""
    return parameter_count(m) - m.vision_parameters


def class_counts(m: Model) -> dict[str, int]:
    """Linear weights per weight class (what a checkpoint's formats apply to)."""
    out = dict.fromkeys(CLASS_SYMBOLS, 0)
    for part, (weights, _) in parameter_parts(m).items():
        if part in PART_CLASS:
            out[PART_CLASS[part]] += weights
    return out


def active_parameter_count(m: Model) -> int:
    """Parameters one text token uses: all but the routed experts it is not sent to and the vision tower."""
    parts = parameter_breakdown(m)
    total = sum(parts.values()) - parts["vision"]
    if not m.is_moe:
        return total
    return total - parts["experts"] * (m.num_experts - m.num_experts_per_tok) // m.num_experts


def mtp_parts(m: Model) -> tuple[dict[str, int], int]:
    """(linear weights by class, other parameters) of the multi-token-prediction modules
    (DeepSeek-V3 section 2.2): per module an RMSNorm of the embedding and of the hidden state,
    eh_proj (2D -> D, kept 16-bit), one decoder layer (attention and the MoE MLP of the last
    layer) and the shared head's norm; embedding and lm_head shared."""
    if not m.mtp_layers:
        return {}, 0
    n, D = m.mtp_layers, m.hidden_size
    attn_w, attn_o = _attention(m)
    by_class, other = {"attention": n * attn_w}, n * attn_o
    if m.is_moe:
        for part, (w, o) in _moe_layer(m).items():
            if part in ("experts", "shared_experts"):
                by_class[part] = n * w
                other += n * o
            else:  # router and gate: 16-bit
                other += n * (w + o)
    else:
        w, o = _mlp(m, m.intermediate_size, m.mlp_bias)
        by_class["mlp"], other = n * w, other + n * o
    other += n * (m.norms_per_layer * D + 3 * D + 2 * D * D)
    return by_class, other


def mtp_parameter_count(m: Model) -> int:
    by_class, other = mtp_parts(m)
    return sum(by_class.values()) + other


def weight_figures(m: Model, prefix: str = "memory.") -> list[Figure]:
    parts = [sym(f"N_{c}") * sym(s) for c, s in CLASS_SYMBOLS.items() if class_counts(m)[c]]
    return [figure(f"{prefix}weights_bytes", add(*parts, sym("N_h") * sym("b_h")), "bytes",
                   "each weight class (N_attention, N_mlp, N_shared_experts, N_experts, N_lm_head) at its bytes per "
                   "element, scales included; the N_h others (embedding, routers, norms, biases, vision) at b_h")]


def weight_constants(m: Model, class_bytes: dict[str, float], b_h_value: float) -> dict[str, float]:
    counts = class_counts(m)
    out: dict[str, float] = {f"N_{c}": n for c, n in counts.items() if n}
    out.update({CLASS_SYMBOLS[c]: class_bytes[c] for c, n in counts.items() if n})
    out.update(N_h=parameter_count(m) - sum(counts.values()), b_h=b_h_value)
    return out


def parameter_terms(m: Model, key: str) -> list:
    """The parameter count as the sum of its named parts (each part a bound value)."""
    parts = {k: v for k, v in parameter_breakdown(m).items() if v}
    expr = add(*(sym(f"N_{k}") for k in parts))
    return evaluate_figures([figure(key, expr, "count", "parameters by part")], {f"N_{k}": v for k, v in parts.items()})
