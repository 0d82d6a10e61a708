"""Typed checks for the values of a spec: each takes the value as parsed from a file (or built by a
caller), never coerces it, and raises SpecError(source, field, reason) for anything else.

The bounds are rooflint's, not the models': every published decoder sits far inside them (the
largest today have ~126 layers, hidden 2^14-2^15, 256K-token vocabularies, 256 routed experts,
10M-token contexts), and they keep every loop over layers short and every product of sizes a
finite float.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from rooflint.errors import SpecError

MAX_NAME = 200  # characters in a name (model, GPU, alias, activation, ...)
MAX_TEXT = 10_000  # characters in free text (description, source, notes)

# Whole-number model fields: (least, most). Upper bounds, with the largest real value in mind:
MAX_LAYERS = 1024  # Llama 3.1 405B has 126
MAX_CONTEXT = 2**31  # Llama 4 Scout: 10,485,760 positions
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "num_hidden_layers": (1, MAX_LAYERS),
    "hidden_size": (1, 2**20),  # largest published ~2^14.6 (18432)
    "num_attention_heads": (1, 2**14),  # 128 (DeepSeek-V3, Llama 3.1 405B)
    "num_key_value_heads": (1, 2**14),
    "head_dim": (1, 2**14),  # 256 (Gemma); MLA's nope + rope 192
    "intermediate_size": (1, 2**22),  # ~73K
    "vocab_size": (1, 2**24),  # 262,144 (Gemma 3)
    "max_position_embeddings": (1, MAX_CONTEXT),
    "sliding_window": (1, MAX_CONTEXT),
    "kv_lora_rank": (1, 2**20),  # 512
    "q_lora_rank": (1, 2**20),  # 1536
    "qk_rope_head_dim": (1, 2**13),  # 64 (nope + rope is MLA's head_dim, within its bound)
    "qk_nope_head_dim": (1, 2**13),  # 128
    "v_head_dim": (1, 2**14),  # 128
    "num_experts": (1, 2**16),  # 256 (DeepSeek-V3)
    "router_experts": (1, 2**16),  # the experts a router scores (an expert-parallel shard: all of them)
    "num_experts_per_tok": (1, 2**16),
    "num_shared_experts": (0, 2**16),
    "moe_intermediate_size": (1, 2**22),
    "first_dense_layers": (0, MAX_LAYERS),
    "norms_per_layer": (0, 16),  # 1 (Falcon), 2, 4 (Gemma 2/3)
    "rotary_dim": (1, 2**14),  # 64 of 128 (GLM-4.5), 96 of 128 (Phi-4-mini)
    "shared_expert_intermediate_size": (1, 2**22),  # 512 (Qwen3-Next)
    "attention_chunk_size": (1, MAX_CONTEXT),  # 8192 (Llama 4)
    "linear_num_key_heads": (1, 2**14),  # 16 (Qwen3-Next)
    "linear_num_value_heads": (1, 2**14),  # 32
    "linear_key_head_dim": (1, 2**14),  # 128
    "linear_value_head_dim": (1, 2**14),  # 128
    "linear_conv_kernel_dim": (1, 64),  # 4
    "mtp_layers": (0, MAX_LAYERS),  # 1 (DeepSeek-V3)
    "vision_parameters": (0, 2**40),  # ~0.4B (SigLIP, Pixtral)
}

# Hardware quantities in base units: (least, most). The least is 1 (a unit of the dimension), so a
# ratio of two figures never overflows; the most is well beyond any accelerator.
QUANTITY_BOUNDS: dict[str, tuple[float, float]] = {
    "memory.capacity": (1.0, 2.0**50),  # bytes: 1 PiB (MI300X: 192 GiB)
    "memory.bandwidth": (1.0, 1e15),  # B/s: 1 PB/s (MI300X: 5.3 TB/s)
    "compute": (1.0, 1e19),  # FLOP/s: 10 EFLOP/s per chip (B300 dense fp4: ~1.4e16)
    "sram_per_sm": (1.0, 2.0**30),  # bytes: 1 GiB (H100: 228 KiB)
    "l2_cache": (1.0, 2.0**40),  # bytes: 1 TiB (L40S: 96 MiB)
    "interconnect": (1.0, 1e15),  # B/s (NVLink 4: 900 GB/s)
    "network": (1.0, 1e15),  # B/s per GPU between nodes (NDR InfiniBand: 50 GB/s)
    "tdp": (1.0, 1e6),  # W (H100 SXM: 700 W)
    "calibration.kernel_overhead": (0.0, 1.0),  # s (a launch: ~5 us)
    "calibration.matmul_half_work": (0.0, 1e18),  # FLOP (fits reach ~1e13)
}
MAX_SM_COUNT = 2**16  # MI300X: 304 compute units

_CONTROL = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))
_TEXT_CONTROL = _CONTROL - {"\n", "\t"}


def show(value: Any) -> str:
    """A value as a message quotes it: short, in YAML's words (true, null, a list of 3 items)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**20 else f"an integer of {len(str(abs(value)))} digits"
        return text
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__}"


def is_int(value: Any) -> bool:
    """An integer proper: not a bool (True is an int to Python), not a float such as 32.0."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole(where: str, field: str, value: Any, lo: int, hi: int, *, bound: str | None = None) -> int:
    """An integer from lo to hi."""
    if not is_int(value) or not lo <= value <= hi:
        kind = (f"a positive integer at most {hi:,}" if lo == 1 else
                f"a whole number from {lo} to {hi:,}" if lo == 0 else f"an integer from {lo:,} to {hi:,}")
        why = f" ({bound})" if bound else ""
        raise SpecError(where, field, f"expected {kind}{why}, got {show(value)}")
    return value


def count(where: str, field: str, value: Any, key: str | None = None, *, optional: bool = False) -> int | None:
    """A model's whole-number field, within INT_BOUNDS[key or field]; null allowed when optional."""
    if value is None and optional:
        return None
    lo, hi = INT_BOUNDS[key or field]
    return whole(where, field, value, lo, hi, bound="rooflint's bound" if is_int(value) and value > hi else None)


def flag(where: str, field: str, value: Any) -> bool:
    """A real boolean: true or false, not 1, 'yes' or a list."""
    if not isinstance(value, bool):
        raise SpecError(where, field, f"expected true or false, got {show(value)}")
    return value


def number(where: str, field: str, value: Any, *, lo: float = -math.inf, positive: bool = False) -> float:
    """A finite number (int or float, not a bool), >= lo, or > 0 when positive."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        try:
            ok = math.isfinite(float(value)) and float(value) >= lo and (float(value) > 0 or not positive)
        except OverflowError:
            ok = False
    if not ok:
        kind = "a positive number" if positive else "a number >= 0" if lo == 0 else "a finite number"
        raise SpecError(where, field, f"expected {kind}, got {show(value)}")
    return float(value)


def bounded(where: str, field: str, value: Any, lo: float, hi: float) -> float:
    """A finite number from lo to hi. Text that reads as one is taken: YAML 1.1 reads 3e-6 (no
    dot) as a string, and a file that writes it means the number."""
    if value is None:
        raise SpecError(where, field, "missing")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SpecError(where, field, f"expected a number, got {show(value)}") from None
    value = number(where, field, value)
    if not lo <= value <= hi:
        raise SpecError(where, field, f"{show(value)} is outside [{lo:g}, {hi:g}]")
    return value


def known_keys(raw: Any, allowed: set[str], where: str, prefix: str = "") -> None:
    """Every key of a mapping is one of `allowed` (a close one named when it is not)."""
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise SpecError(where, f"{prefix}{key}", f"unknown field{hint}")


def _clean(where: str, field: str, value: str, noun: str, limit: int, controls: frozenset[str]) -> str:
    """A string of at most `limit` characters holding none of `controls`."""
    if len(value) > limit:
        raise SpecError(where, field, f"{noun} of {len(value):,} characters (at most {limit:,})")
    bad = next((c for c in value if c in controls), None)
    if bad is not None:
        raise SpecError(where, field, f"{noun} may not hold control characters (found {bad!r})")
    return value


def name(where: str, field: str, value: Any) -> str:
    """A name: a non-empty string of at most MAX_NAME characters, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(where, field, f"expected a name (text), got {show(value)}")
    return _clean(where, field, value, "a name", MAX_NAME, _CONTROL)


def text(where: str, field: str, value: Any, *, optional: bool = True) -> str:
    """Free text: a string (null reads as empty) of at most MAX_TEXT characters, no control
    characters but newlines and tabs (an escape sequence would reach the terminal)."""
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise SpecError(where, field, f"expected text, got {show(value)}")
    return _clean(where, field, value, "text", MAX_TEXT, _TEXT_CONTROL)


def mapping(where: str, field: str, value: Any, *, optional: bool = True) -> dict | None:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise SpecError(where, field, f"expected a mapping{' or null' if optional else ''}, got {show(value)}")
    return value


def names(where: str, field: str, value: Any, *, limit: int = 256) -> tuple[str, ...]:
    """A list of names (null or absent: none)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SpecError(where, field, f"expected a list of names, got {show(value)}")
    if len(value) > limit:
        raise SpecError(where, field, f"{len(value):,} names (at most {limit})")
    return tuple(name(where, f"{field}[{i}]", v) for i, v in enumerate(value))
