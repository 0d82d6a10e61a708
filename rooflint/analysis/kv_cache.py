"""KV cache sizes: per token, at a context, for a batch; layer by layer.

Per layer and token: 2 (K and V) * H_kv * d elements, or for MLA the latent
kv_lora_rank + qk_rope_head_dim (no factor 2) when the latent is what is cached ("absorbed"),
H * (qk_nope + qk_rope + v_head_dim) when the decompressed K and V are ("naive", as the Hugging
Face implementation caches them). A sliding window caps a layer's cached tokens at the window.
Bytes per element include quantization scales (see dtypes.element_bytes).
"""

from __future__ import annotations

from rooflint.specs import Model

ABSORBED, NAIVE = "absorbed", "naive"


def kv_elements_per_token_per_layer(m: Model, mla_mode: str = ABSORBED) -> int:
    if m.is_mla:
        if mla_mode == ABSORBED:
            return m.kv_lora_rank + m.qk_rope_head_dim
        return m.num_attention_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
    return 2 * m.num_key_value_heads * m.head_dim


def kv_bytes_per_token(m: Model, kv_bytes_per_element: float, mla_mode: str = ABSORBED) -> float:
    """What one token adds to the cache across all layers: 2 * L * H_kv * d * b_kv (MHA/GQA/MQA)."""
    return m.num_hidden_layers * kv_elements_per_token_per_layer(m, mla_mode) * kv_bytes_per_element


def cached_tokens(m: Model, context: int, layer: int | None = None) -> int:
    """Tokens a layer holds per sequence at a context: min(C, window). Without `layer`, the
    model-wide window (uniform models)."""
    window = m.sliding_window if layer is None else m.layer_window(layer)
    return min(context, window) if window else context


def kv_bytes(m: Model, kv_bytes_per_element: float, context: int, batch: int = 1, mla_mode: str = ABSORBED) -> float:
    """KV cache of `batch` sequences at `context` tokens each, summed layer by layer."""
    per_layer = kv_elements_per_token_per_layer(m, mla_mode) * kv_bytes_per_element
    return sum(per_layer * cached_tokens(m, context, i) for i in range(m.num_hidden_layers)) * batch
