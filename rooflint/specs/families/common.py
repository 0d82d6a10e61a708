"""What the family mappers share: the refusal they raise and the field readers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Refused(Exception):
    """A field a family mapper refuses; model_from_mapping names the file."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def get(raw: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    """The first of `keys` the config gives (null reads as absent), else the default."""
    for key in keys:
        if raw.get(key) is not None:
            return raw[key]
    return default


def layers_of(raw: Mapping[str, Any]) -> int | None:
    layers = get(raw, "num_hidden_layers", "n_layer")
    return layers if isinstance(layers, int) and not isinstance(layers, bool) else None


def explicit_layer_types(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """HF's explicit layer_types, else () (uniform layers); Model checks its length."""
    types = raw.get("layer_types")
    return () if types is None else tuple(types)


def rotary_dim(raw: Mapping[str, Any], head_dim: Any) -> int | None:
    """Dims of a head that rotate: head_dim x partial_rotary_factor (None: all of them)."""
    factor = raw.get("partial_rotary_factor")
    if factor is None or factor == 1 or not isinstance(head_dim, int):
        return None
    if not 0 < factor <= 1:
        raise Refused("partial_rotary_factor", f"expected a fraction in (0, 1], got {factor!r}")
    return max(1, int(head_dim * factor))


def head_dim_of(raw: Mapping[str, Any]) -> int | None:
    """head_dim as given, else hidden_size / num_attention_heads when that divides."""
    if isinstance(raw.get("head_dim"), int):
        return raw["head_dim"]
    hidden, heads = raw.get("hidden_size"), raw.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads and hidden % heads == 0:
        return hidden // heads
    return None
