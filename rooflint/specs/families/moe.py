"""Mixture-of-experts decoders: mixtral, deepseek_v2/v3 (and Kimi-K2), qwen3_moe, glm4_moe, gpt_oss,
llama4_text. Which layers are MoE comes out as one "dense"/"moe" entry per layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooflint.specs.families.common import Refused, get, head_dim_of, layers_of, rotary_dim
from rooflint.specs.families.dense import llama_like

# The configuration classes' defaults (transformers configuration_<family>.py) for fields a
# published file may leave out.
QWEN3_MOE_DEFAULTS = {"num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768}
GPT_OSS_DEFAULTS = {"sliding_window": 128, "head_dim": 64, "num_local_experts": 128, "num_experts_per_tok": 4,
                    "attention_bias": True}
LLAMA4_TEXT_DEFAULTS = {"attention_chunk_size": 8192, "intermediate_size_mlp": 16384, "intermediate_size": 8192,
                        "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16, "num_experts_per_tok": 1}
GLM4_MOE_DEFAULTS = {"partial_rotary_factor": 0.5, "n_shared_experts": 1, "first_k_dense_replace": 1,
                     "n_routed_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 1408}
DEEPSEEK_V3_DEFAULTS = {"first_k_dense_replace": 3, "n_shared_experts": 1, "n_routed_experts": 256,
                        "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "topk_method": "noaux_tc"}


def _check_top_k(experts: Any, top_k: Any, field: str) -> None:
    if isinstance(experts, int) and isinstance(top_k, int) and top_k > experts:
        raise Refused("num_experts_per_tok", f"{top_k} exceeds {field} {experts}")


def mixtral(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = llama_like(raw, "mistral")
    if "sliding_window" not in raw:
        out["sliding_window"] = None
    out.update(num_experts=raw.get("num_local_experts"), num_experts_per_tok=raw.get("num_experts_per_tok", 2),
               moe_intermediate_size=raw.get("intermediate_size"))
    return out


def deepseek(raw: Mapping[str, Any]) -> dict[str, Any]:
    """DeepSeek-V2/V3 (modeling_deepseek_v3.py): MLA attention and a MoE MLP after the first
    dense layers; V3 (topk_method noaux_tc) adds a per-expert score-correction bias; the MTP
    module (num_nextn_predict_layers) is counted apart."""
    if raw.get("model_type") in ("deepseek_v3", "kimi_k2"):
        raw = {**DEEPSEEK_V3_DEFAULTS, **raw}
    out = llama_like(raw, "deepseek")
    heads = raw.get("num_attention_heads")
    out.update(
        num_key_value_heads=heads,  # MLA's per-head K/V once decompressed; the latent is shared
        head_dim=None,  # qk_nope_head_dim + qk_rope_head_dim, once --set has applied (model_from_mapping)
        kv_lora_rank=raw.get("kv_lora_rank"), q_lora_rank=raw.get("q_lora_rank"),
        qk_rope_head_dim=raw.get("qk_rope_head_dim"), qk_nope_head_dim=raw.get("qk_nope_head_dim"),
        v_head_dim=raw.get("v_head_dim"),
        num_experts=raw.get("n_routed_experts"), num_experts_per_tok=raw.get("num_experts_per_tok"),
        num_shared_experts=raw.get("n_shared_experts") or 0, moe_intermediate_size=raw.get("moe_intermediate_size"),
        first_dense_layers=raw.get("first_k_dense_replace", 0),
        router_bias=raw.get("topk_method") == "noaux_tc",  # V3's score correction: one bias per expert
        mtp_layers=raw.get("num_nextn_predict_layers", 0),
    )
    if raw.get("moe_layer_freq", 1) != 1:
        raise Refused("moe_layer_freq", "only every-layer MoE (moe_layer_freq 1) is modelled")
    layers = layers_of(raw)
    if layers is not None and out["first_dense_layers"] > layers:
        raise Refused("first_k_dense_replace", f"{out['first_dense_layers']} dense layers of {layers} layers")
    _check_top_k(raw.get("n_routed_experts"), raw.get("num_experts_per_tok"), "n_routed_experts")
    return out


def qwen3_moe(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Qwen3-MoE (modeling_qwen3_moe.py): layer i is sparse unless it is in mlp_only_layers,
    when (i + 1) % decoder_sparse_step == 0; per-head q/k norms; no shared expert."""
    raw = {**QWEN3_MOE_DEFAULTS, **raw}
    out = llama_like(raw, "qwen3_moe")
    experts = raw.get("num_experts")
    out.update(num_experts=experts, num_experts_per_tok=raw.get("num_experts_per_tok", 8),
               moe_intermediate_size=raw.get("moe_intermediate_size"),
               mlp_layer_types=sparse_layers(raw, experts))
    _check_top_k(experts, out["num_experts_per_tok"], "num_experts")
    return out


def sparse_layers(raw: Mapping[str, Any], experts: Any) -> tuple[str, ...]:
    layers = layers_of(raw)
    if layers is None or not experts:
        return ()
    step = raw.get("decoder_sparse_step", 1)
    dense = set(raw.get("mlp_only_layers") or ())
    return tuple("moe" if i not in dense and (i + 1) % step == 0 else "dense" for i in range(layers))


def glm4_moe(raw: Mapping[str, Any]) -> dict[str, Any]:
    """GLM-4.5/4.6 (modeling_glm4_moe.py): DeepSeek-V3-style routing (sigmoid scores with a
    correction bias, shared experts) after first_k_dense_replace dense layers, GQA attention
    with q/k/v biases (o_proj none), partial rotary, optional per-head q/k norms, and an MTP
    layer (num_nextn_predict_layers) counted apart."""
    raw = {**GLM4_MOE_DEFAULTS, **raw}
    out = llama_like(raw, "glm4_moe")
    layers = layers_of(raw)
    first = raw.get("first_k_dense_replace", 1)
    if layers is not None and first > layers:
        raise Refused("first_k_dense_replace", f"{first} dense layers of {layers} layers")
    out.update(qkv_bias=bool(raw.get("attention_bias", False)), o_bias=False,
               qk_norm=bool(raw.get("use_qk_norm", False)), rotary_dim=rotary_dim(raw, head_dim_of(raw)),
               num_experts=raw.get("n_routed_experts"), num_experts_per_tok=raw.get("num_experts_per_tok", 8),
               num_shared_experts=raw.get("n_shared_experts", 1), moe_intermediate_size=raw.get("moe_intermediate_size"),
               first_dense_layers=first, router_bias=True, mtp_layers=raw.get("num_nextn_predict_layers", 0))
    _check_top_k(raw.get("n_routed_experts"), out["num_experts_per_tok"], "n_routed_experts")
    return out


def gpt_oss(raw: Mapping[str, Any]) -> dict[str, Any]:
    """gpt-oss (modeling_gpt_oss.py): every layer MoE with fused gate_up experts carrying biases
    and a biased router; q/k/v/o biases; one learned sink per head; layers alternate sliding
    (128) and full attention (layer_types)."""
    raw = {**GPT_OSS_DEFAULTS, **raw}
    out = llama_like(raw, "gpt_oss")
    experts = get(raw, "num_local_experts", "num_experts")
    layers = layers_of(raw)
    if not out["layer_types"] and layers and out["sliding_window"]:
        out["layer_types"] = tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers))
    out.update(qkv_bias=bool(raw.get("attention_bias", True)), o_bias=bool(raw.get("attention_bias", True)),
               num_experts=experts, num_experts_per_tok=get(raw, "num_experts_per_tok", "experts_per_token", default=4),
               moe_intermediate_size=raw.get("intermediate_size"), expert_bias=True, router_bias=True,
               attention_sinks=True, fused_gate_up=True)
    _check_top_k(experts, out["num_experts_per_tok"], "num_local_experts")
    return out


def llama4_text(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Llama 4 text (modeling_llama4.py, Llama4TextConfig): MoE layers every
    interleave_moe_layer_step-th layer (routed experts of intermediate_size plus one shared
    expert of the same width; dense layers of intermediate_size_mlp); layers with RoPE use
    chunked local attention over attention_chunk_size tokens, the NoPE layers
    (no_rope_layers[i] == 0, every fourth by default) attend globally; q/k L2 norms carry no weights."""
    raw = {**LLAMA4_TEXT_DEFAULTS, **raw}
    layers = layers_of(raw)
    out = llama_like(raw, "llama4")
    step = raw.get("interleave_moe_layer_step", 1)
    moe_layers = raw.get("moe_layers")
    if layers is not None:
        moe = set(moe_layers) if isinstance(moe_layers, list) else set(range(step - 1, layers, step))
        out["mlp_layer_types"] = tuple("moe" if i in moe else "dense" for i in range(layers))
        use_rope = raw.get("no_rope_layers")
        if not isinstance(use_rope, list) or len(use_rope) != layers:
            interval = raw.get("no_rope_layer_interval", 4)
            use_rope = [int((i + 1) % interval != 0) for i in range(layers)]
        out["no_rope_layers"] = tuple(i for i, r in enumerate(use_rope) if not r)
        chunk = raw.get("attention_chunk_size")
        if not out["layer_types"]:
            out["layer_types"] = tuple("chunked_attention" if chunk and r else "full_attention" for r in use_rope)
        out["attention_chunk_size"] = chunk
    experts = raw.get("num_local_experts", 16)
    out.update(intermediate_size=get(raw, "intermediate_size_mlp", "intermediate_size"),
               num_experts=experts, num_experts_per_tok=raw.get("num_experts_per_tok", 1),
               moe_intermediate_size=raw.get("intermediate_size"), num_shared_experts=1, fused_gate_up=True,
               qk_norm=False)
    _check_top_k(experts, out["num_experts_per_tok"], "num_local_experts")
    return out
