"""The type of every Hugging Face config field rooflint reads (or that real configs carry with a
fixed type), checked before any family mapper uses a value: a count is an integer within its
bound (so a loop over layers is short), a flag a real boolean, a name text without control
characters. null reads as absent (the family's default applies).

Fields outside this schema change nothing rooflint computes and are not looked at (token ids,
dtypes, dropouts, auto_map, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from rooflint.errors import SpecError
from rooflint.specs import fields
from rooflint.specs.model import LAYER_TYPES

# HF key -> the Model field whose bound applies (fields.INT_BOUNDS).
COUNTS = {
    "num_hidden_layers": "num_hidden_layers", "n_layer": "num_hidden_layers",
    "hidden_size": "hidden_size", "n_embd": "hidden_size",
    "num_attention_heads": "num_attention_heads", "n_head": "num_attention_heads",
    "num_key_value_heads": "num_key_value_heads", "num_kv_heads": "num_key_value_heads",
    "n_head_kv": "num_key_value_heads",
    "head_dim": "head_dim",
    "intermediate_size": "intermediate_size", "n_inner": "intermediate_size", "ffn_hidden_size": "intermediate_size",
    "vocab_size": "vocab_size",
    "max_position_embeddings": "max_position_embeddings", "n_positions": "max_position_embeddings",
    "sliding_window": "sliding_window",
    "kv_lora_rank": "kv_lora_rank", "q_lora_rank": "q_lora_rank", "qk_rope_head_dim": "qk_rope_head_dim",
    "qk_nope_head_dim": "qk_nope_head_dim", "v_head_dim": "v_head_dim",
    "n_routed_experts": "num_experts", "num_local_experts": "num_experts", "num_experts": "num_experts",
    "num_experts_per_tok": "num_experts_per_tok", "n_shared_experts": "num_shared_experts",
    "moe_intermediate_size": "moe_intermediate_size", "first_k_dense_replace": "first_dense_layers",
    "intermediate_size_mlp": "intermediate_size", "experts_per_token": "num_experts_per_tok",
    "attention_chunk_size": "attention_chunk_size",
    "shared_expert_intermediate_size": "shared_expert_intermediate_size",
    "linear_num_key_heads": "linear_num_key_heads", "linear_num_value_heads": "linear_num_value_heads",
    "linear_key_head_dim": "linear_key_head_dim", "linear_value_head_dim": "linear_value_head_dim",
    "linear_conv_kernel_dim": "linear_conv_kernel_dim",
}
# Other whole numbers: (least, most).
WHOLES = {
    "max_window_layers": (0, fields.MAX_LAYERS),  # Qwen2: layers from this index on slide
    "sliding_window_pattern": (1, fields.MAX_LAYERS),  # Gemma 3: every n-th layer is global
    "moe_layer_freq": (1, fields.MAX_LAYERS),
    "num_nextn_predict_layers": (0, fields.MAX_LAYERS),
    "n_group": (0, 2**16), "topk_group": (0, 2**16), "ep_size": (0, 2**16),
    "decoder_sparse_step": (1, fields.MAX_LAYERS), "interleave_moe_layer_step": (1, fields.MAX_LAYERS),
    "full_attention_interval": (1, fields.MAX_LAYERS), "no_rope_layer_interval": (1, fields.MAX_LAYERS),
}
# Lists of whole numbers: (least, most) of each entry.
INT_LISTS = {"mlp_only_layers": (0, fields.MAX_LAYERS - 1), "moe_layers": (0, fields.MAX_LAYERS - 1),
             "no_rope_layers": (0, 1)}
FLAGS = {"tie_word_embeddings", "use_sliding_window", "attention_bias", "mlp_bias", "new_decoder_architecture",
         "multi_query", "bias", "parallel_attn", "alibi", "use_cache", "norm_topk_prob", "seq_aux",
         "output_router_logits", "use_qk_norm"}
NAMES = {"hidden_act", "hidden_activation", "activation_function", "activation", "name", "scoring_func",
         "topk_method", "cache_implementation"}
TEXTS = {"source", "notes"}
POSITIVE = {"rope_theta", "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
            "rope_local_base_freq", "partial_rotary_factor", "swiglu_limit"}
NON_NEGATIVE = {"rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "routed_scaling_factor", "aux_loss_alpha",
                "router_aux_loss_coef", "router_jitter_noise"}
MAPPINGS = {"rope_scaling", "rope_parameters", "text_config", "vision_config", "quantization_config"}


def _layer_types(where: str, key: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > fields.MAX_LAYERS:
        raise SpecError(where, key, "expected a list of layer type names (one per layer), "
                        f"got {fields.show(value)}")
    for item in value:
        if not isinstance(item, str):
            raise SpecError(where, key, f"expected a list of layer type names, got an entry {fields.show(item)}")
        if item not in LAYER_TYPES:
            raise SpecError(where, key, f"unsupported layer type {fields.show(item)} "
                            f"(rooflint models {', '.join(LAYER_TYPES)})")


def _checker(key: str) -> Callable[[str, str, Any], Any] | None:
    if key in COUNTS:
        return lambda where, field, value: fields.count(where, field, value, COUNTS[key])
    if key in WHOLES:
        lo, hi = WHOLES[key]
        return lambda where, field, value: fields.whole(where, field, value, lo, hi)
    if key in FLAGS:
        return fields.flag
    if key in NAMES:
        return fields.name
    if key in TEXTS:
        return fields.text
    if key in POSITIVE:
        return lambda where, field, value: fields.number(where, field, value, positive=True)
    if key in NON_NEGATIVE:
        return lambda where, field, value: fields.number(where, field, value, lo=0)
    if key in MAPPINGS:
        return fields.mapping
    if key == "layer_types":
        return _layer_types
    if key in INT_LISTS:
        lo, hi = INT_LISTS[key]
        return lambda where, field, value: _int_list(where, field, value, lo, hi)
    return None


def _int_list(where: str, key: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, list) or len(value) > fields.MAX_LAYERS:
        raise SpecError(where, key, f"expected a list of at most {fields.MAX_LAYERS} whole numbers, got "
                        f"{fields.show(value)}")
    for i, item in enumerate(value):
        fields.whole(where, f"{key}[{i}]", item, lo, hi)


CHECKS = {key: check for key in (*COUNTS, *WHOLES, *FLAGS, *NAMES, *TEXTS, *POSITIVE, *NON_NEGATIVE, *MAPPINGS,
                                 *INT_LISTS, "layer_types") if (check := _checker(key)) is not None}


def check_config(raw: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """raw with every schema field checked and the null ones dropped (absent: the default
    applies). sliding_window keeps its null: Mistral's explicit null means no window, its
    absence 4096. A text_config (Gemma 3) is checked the same way, one level down."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise SpecError(where, prefix + str(key), "a field name must be text")
        if value is None:
            if key == "sliding_window":
                out[key] = None
            continue
        check = CHECKS.get(key)
        if check is not None:
            check(where, prefix + key, value)
        if key == "text_config" and not prefix:
            value = check_config(value, where, "text_config.")
        out[key] = value
    return out
