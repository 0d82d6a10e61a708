"""Llama-style decoders: llama, mistral, qwen2/qwen3, gemma 1/2/3, phi3, olmo2.

Each mapper follows its Hugging Face modeling code (the file and class named in its docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooflint.specs.families.common import Refused, explicit_layer_types, get, head_dim_of, layers_of, rotary_dim


def llama_like(raw: Mapping[str, Any], family: str) -> dict[str, Any]:
    heads = raw.get("num_attention_heads")
    window = raw.get("sliding_window")
    if family in ("qwen2", "qwen3", "qwen3_moe") and not raw.get("use_sliding_window", False):
        window = None  # Qwen2/Qwen3 configs carry a window and switch it off (HF: sliding_window=None then)
    if family == "mistral" and "sliding_window" not in raw:
        window = 4096  # MistralConfig's default
    return {
        "num_hidden_layers": raw.get("num_hidden_layers"),
        "hidden_size": raw.get("hidden_size"),
        "num_attention_heads": heads,
        "num_key_value_heads": get(raw, "num_key_value_heads", default=heads),
        "head_dim": raw.get("head_dim"),
        "intermediate_size": raw.get("intermediate_size"),
        "vocab_size": raw.get("vocab_size"),
        "max_position_embeddings": raw.get("max_position_embeddings"),
        "mlp": "gated",
        "hidden_act": get(raw, "hidden_activation", "hidden_act", default="silu"),
        "norm": "rmsnorm",
        "tie_word_embeddings": raw.get("tie_word_embeddings", family == "gemma"),
        # Qwen2 hard-codes biases on q, k, v (not o); llama's attention_bias covers all four.
        "qkv_bias": True if family == "qwen2" else bool(raw.get("attention_bias", False)),
        "o_bias": False if family == "qwen2" else bool(raw.get("attention_bias", False)),
        "mlp_bias": bool(raw.get("mlp_bias", False)),
        "qk_norm": family in ("qwen3", "qwen3_moe", "gemma3"),
        "sliding_window": window,
        "layer_types": explicit_layer_types(raw) or qwen_layers(raw, family, window),
    }


def qwen_layers(raw: Mapping[str, Any], family: str, window: Any) -> tuple[str, ...]:
    """Qwen2/Qwen3 with use_sliding_window: layers from max_window_layers on slide (HF's default
    layer_types), the ones before attend fully."""
    layers = layers_of(raw)
    if family not in ("qwen2", "qwen3", "qwen3_moe") or not window or layers is None:
        return ()
    first = raw.get("max_window_layers", 0)  # an integer 0..MAX_LAYERS (hf_schema)
    if first > layers:
        raise Refused("max_window_layers", f"{first} exceeds num_hidden_layers {layers}: no layer would slide "
                      "(set use_sliding_window false)")
    return tuple("sliding_attention" if i >= first else "full_attention" for i in range(layers))


def gemma2(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Gemma 2 (modeling_gemma2.py): layers alternate sliding (even index) and global; four norms."""
    out = llama_like(raw, "gemma")
    layers = layers_of(raw)
    if not out["layer_types"] and layers and out["sliding_window"]:
        out["layer_types"] = tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers))
    out["norms_per_layer"] = 4
    return out


# Gemma3TextConfig's defaults (configuration_gemma3.py), which the published multimodal files rely
# on: their text_config writes only what differs.
GEMMA3_TEXT_DEFAULTS = {"vocab_size": 262_208, "hidden_size": 2304, "intermediate_size": 9216,
                        "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                        "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131_072,
                        "sliding_window": 4096, "tie_word_embeddings": True}


def gemma3(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Gemma 3 text (modeling_gemma3.py, Gemma3TextConfig): 5 local (sliding) layers to 1 global
    unless layer_types says otherwise; q/k norms per head; four norms per layer."""
    raw = {**GEMMA3_TEXT_DEFAULTS, **raw}
    out = llama_like(raw, "gemma3")
    layers = layers_of(raw)
    pattern = raw.get("sliding_window_pattern", 6)  # a positive integer (hf_schema)
    if not out["layer_types"] and layers and out["sliding_window"]:
        out["layer_types"] = tuple("full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                                   for i in range(layers))
    out["norms_per_layer"] = 4
    return out


def phi3(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Phi-3/3.5/4 (modeling_phi3.py): fused qkv_proj (D -> (H_q + 2 H_kv) d) and gate_up_proj
    (D -> 2F), no biases, partial rotary (partial_rotary_factor), and a sliding window on every
    layer when sliding_window is set (Phi-3-mini: 2047; Phi-4: none)."""
    out = llama_like(raw, "phi3")
    window, limit = out["sliding_window"], raw.get("max_position_embeddings")
    if isinstance(window, int) and isinstance(limit, int) and window >= limit:
        out["sliding_window"] = None  # Phi-4-mini's 262,144 over 131,072 positions never slides
    out.update(fused_qkv=True, fused_gate_up=True, qkv_bias=False, o_bias=False, mlp_bias=False,
               rotary_dim=rotary_dim(raw, head_dim_of(raw)))
    return out


def olmo2(raw: Mapping[str, Any]) -> dict[str, Any]:
    """OLMo 2 (modeling_olmo2.py): RMSNorm over the whole q and k projections (H_q d and H_kv d
    weights), and norms after attention and after the MLP instead of before (two per layer)."""
    out = llama_like(raw, "olmo2")
    out.update(qk_norm=True, qk_norm_scope="full")
    return out
