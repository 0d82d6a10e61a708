"""GPT-2 and Falcon: non-llama field names, learned or ALiBi positions, plain MLPs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooflint.specs.families.common import get


def gpt2(raw: Mapping[str, Any]) -> dict[str, Any]:
    hidden = get(raw, "n_embd", "hidden_size")
    heads = get(raw, "n_head", "num_attention_heads")
    return {
        "num_hidden_layers": get(raw, "n_layer", "num_hidden_layers"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "head_dim": None,
        "intermediate_size": get(raw, "n_inner", default=4 * hidden if isinstance(hidden, int) else None),
        "vocab_size": raw.get("vocab_size"),
        "max_position_embeddings": get(raw, "n_positions", "max_position_embeddings"),
        "mlp": "plain",
        "hidden_act": raw.get("activation_function", "gelu_new"),
        "norm": "layernorm",
        "tie_word_embeddings": raw.get("tie_word_embeddings", True),
        "qkv_bias": True, "o_bias": True, "mlp_bias": True,
        "position_embedding": "learned",
    }


def falcon(raw: Mapping[str, Any]) -> dict[str, Any]:
    hidden = raw.get("hidden_size")
    heads = get(raw, "num_attention_heads", "n_head")
    new_arch = bool(raw.get("new_decoder_architecture", False))
    if new_arch:
        kv_heads = get(raw, "num_kv_heads", "n_head_kv", default=heads)
    else:
        kv_heads = 1 if raw.get("multi_query", True) else heads
    bias = bool(raw.get("bias", False))
    parallel = bool(raw.get("parallel_attn", True))
    return {
        "num_hidden_layers": get(raw, "num_hidden_layers", "n_layer"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": raw.get("head_dim"),
        "intermediate_size": get(raw, "ffn_hidden_size", default=4 * hidden if isinstance(hidden, int) else None),
        "vocab_size": raw.get("vocab_size"),
        "max_position_embeddings": raw.get("max_position_embeddings", 2048),  # FalconConfig default
        "mlp": "plain",
        "hidden_act": raw.get("activation", "gelu"),
        "norm": "layernorm",
        # Falcon-7B's parallel block shares one LayerNorm; the new architecture has two.
        "norms_per_layer": 2 if new_arch or not parallel else 1,
        "tie_word_embeddings": raw.get("tie_word_embeddings", True),
        "qkv_bias": bias, "o_bias": bias, "mlp_bias": bias,
        "position_embedding": "alibi" if raw.get("alibi") else "rope",
    }
