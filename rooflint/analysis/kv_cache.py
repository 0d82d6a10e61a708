"""KV cache sizes: per token, at a context, for a batch.

KV bytes per token = 2 (K and V) * L * H_kv * d * b_kv. A sliding window caps the cached
tokens at the window.
"""

from __future__ import annotations

from rooflint.specs import Model


def kv_bytes_per_token(m: Model, kv_bytes_per_element: float) -> float:
    """2 * L * H_kv * d * b_kv: what one token adds to the cache across all layers."""
    return 2 * m.num_hidden_layers * m.num_key_value_heads * m.head_dim * kv_bytes_per_element


def cached_tokens(m: Model, context: int) -> int:
    """Tokens held per sequence at a context: min(C, window)."""
    return min(context, m.sliding_window) if m.sliding_window else context


def kv_bytes(m: Model, kv_bytes_per_element: float, context: int, batch: int = 1) -> float:
    """KV cache of `batch` sequences at `context` tokens each."""
    return kv_bytes_per_token(m, kv_bytes_per_element) * cached_tokens(m, context) * batch
