"""The Hugging Face model families rooflint maps, and the config keys each one understands.

A mapper turns a family's config (as the transformers configuration class reads it, defaults
included) into rooflint's Model fields; the keys in UNSUPPORTED announce an architecture feature,
refused by name in any family that does not list the key as handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from rooflint.specs.families import dense, hybrid, legacy, moe
from rooflint.specs.families.common import Refused
from rooflint.specs.families.multimodal import WRAPPERS, unwrap

Mapper = Callable[[Mapping[str, Any]], dict[str, Any]]

FAMILIES: dict[str, Mapper] = {
    "llama": lambda raw: dense.llama_like(raw, "llama"),
    "mistral": lambda raw: dense.llama_like(raw, "mistral"),
    "ministral": lambda raw: dense.llama_like(raw, "mistral"),
    "qwen2": lambda raw: dense.llama_like(raw, "qwen2"),
    "qwen3": lambda raw: dense.llama_like(raw, "qwen3"),
    "gemma": lambda raw: dense.llama_like(raw, "gemma"),
    "gemma2": dense.gemma2,
    "gemma3_text": dense.gemma3,
    "phi3": dense.phi3,
    "olmo2": dense.olmo2,
    "mixtral": moe.mixtral,
    "deepseek_v2": moe.deepseek,
    "deepseek_v3": moe.deepseek,
    "kimi_k2": moe.deepseek,
    "qwen3_moe": moe.qwen3_moe,
    "glm4_moe": moe.glm4_moe,
    "gpt_oss": moe.gpt_oss,
    "llama4_text": moe.llama4_text,
    "qwen3_next": hybrid.qwen3_next,
    "gpt2": legacy.gpt2,
    "falcon": legacy.falcon,
    "RefinedWebModel": legacy.falcon,
    "RefinedWeb": legacy.falcon,
}

# Keys that announce a feature: refused, by name, in a family that does not handle them.
UNSUPPORTED = {
    "kv_lora_rank": "multi-head latent attention (MLA)",
    "q_lora_rank": "multi-head latent attention (MLA)",
    "num_local_experts": "mixture of experts",
    "n_routed_experts": "mixture of experts",
    "num_experts": "mixture of experts",
    "moe_intermediate_size": "mixture of experts",
    "layer_types": "per-layer attention types",
    "is_encoder_decoder": "encoder-decoder models",
    "cross_attention_hidden_size": "cross-attention",
    "attention_layers": "per-layer attention types",
    "partial_rotary_factor": "partial rotary embedding",
    "attention_chunk_size": "chunked local attention",
    "no_rope_layers": "layers without position encoding (NoPE)",
    "linear_num_key_heads": "linear-attention (recurrent) layers",
    "full_attention_interval": "linear-attention (recurrent) layers",
    "mamba_d_state": "Mamba state-space layers",
    "ssm_state_size": "Mamba state-space layers",
    "vision_config": "a vision tower",
    "audio_config": "an audio tower",
}

_MOE = {"num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob", "router_aux_loss_coef"}
_MLA_MOE = {"kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "n_routed_experts",
            "n_shared_experts", "first_k_dense_replace", "moe_layer_freq", "num_nextn_predict_layers", *_MOE}
HANDLED: dict[str, set[str]] = {
    "mixtral": {"num_local_experts", *_MOE},
    "deepseek_v2": _MLA_MOE, "deepseek_v3": _MLA_MOE, "kimi_k2": _MLA_MOE,
    "qwen3_moe": {"num_experts", "decoder_sparse_step", "mlp_only_layers", *_MOE},
    "glm4_moe": {"n_routed_experts", "n_shared_experts", "first_k_dense_replace", "partial_rotary_factor",
                 "num_nextn_predict_layers", "use_qk_norm", *_MOE},
    "gpt_oss": {"num_local_experts", "layer_types", "experts_per_token", *_MOE},
    "llama4_text": {"num_local_experts", "moe_layers", "interleave_moe_layer_step", "attention_chunk_size",
                    "no_rope_layers", "no_rope_layer_interval", "intermediate_size_mlp", "layer_types", *_MOE},
    "qwen3_next": {"num_experts", "decoder_sparse_step", "mlp_only_layers", "shared_expert_intermediate_size",
                   "partial_rotary_factor", "layer_types", "full_attention_interval", "linear_num_key_heads",
                   "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim",
                   "linear_conv_kernel_dim", *_MOE},
    "phi3": {"partial_rotary_factor"},
}
for _family in ("llama", "mistral", "ministral", "qwen2", "qwen3", "gemma", "olmo2"):
    HANDLED[_family] = {"layer_types"}
HANDLED["gemma2"] = HANDLED["gemma3_text"] = {"layer_types", "sliding_window_pattern", "query_pre_attn_scalar"}

# The layer types each family's code runs (full and sliding attention everywhere else).
LAYER_KINDS = {"qwen3_next": ("full_attention", "linear_attention"),
               "llama4_text": ("full_attention", "chunked_attention")}
DEFAULT_LAYER_KINDS = ("full_attention", "sliding_attention")

__all__ = ["LAYER_KINDS", "DEFAULT_LAYER_KINDS", "FAMILIES", "HANDLED", "UNSUPPORTED", "WRAPPERS", "Refused", "unwrap"]
