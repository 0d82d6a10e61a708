"""Hardware and model specs: frozen, validated values in base units (bytes, FLOP/s, B/s).

Loading files is catalog.py's job; this module only holds and checks values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from rooflint.dtypes import DType
from rooflint.errors import SpecError


@dataclass(frozen=True, slots=True)
class Hardware:
    """One accelerator. Peaks are dense (no 2:4 sparsity), per dtype, in FLOP/s."""

    name: str
    description: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    peak_flop_per_s: Mapping[str, float]  # dtype name -> dense peak; "fp32" is the vector unit
    sm_count: int | None = None
    sram_per_sm_bytes: float | None = None  # max shared memory per SM (FlashAttention's M)
    l2_bytes: float | None = None
    interconnect_bytes_per_s: float | None = None
    vendor: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""
    path: str = ""  # the file it came from
    provenance: Mapping[str, str] = field(default_factory=dict)  # measured ceilings: how

    def peak(self, key: str) -> float:
        """Peak FLOP/s for a dtype key; a clear error if the chip has no such unit."""
        try:
            return self.peak_flop_per_s[key]
        except KeyError:
            have = ", ".join(self.peak_flop_per_s)
            raise SpecError(self.path or self.name, f"compute.{key}",
                            f"{self.name} has no {key} peak (it has: {have})") from None

    def ridge_point(self, key: str) -> float:
        """FLOP per byte at which an op in this dtype turns compute-bound: peak / bandwidth."""
        return self.peak(key) / self.bandwidth_bytes_per_s

    def supports(self, dt: DType) -> bool:
        return dt.peak_key in self.peak_flop_per_s


MLP_KINDS = ("gated", "plain")
NORM_KINDS = ("rmsnorm", "layernorm")
POSITION_KINDS = ("rope", "learned", "alibi")


@dataclass(frozen=True, slots=True)
class Model:
    """A decoder-only transformer, in Hugging Face (llama-style) field names.

    Symbols used in formulas: L layers, D hidden_size, H_q heads, H_kv KV heads, d head_dim,
    F intermediate_size, V vocab_size.
    """

    name: str
    model_type: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int | None = None
    mlp: str = "gated"  # gated: down(act(gate(x)) * up(x)); plain: fc2(act(fc1(x)))
    hidden_act: str = "silu"
    norm: str = "rmsnorm"
    norms_per_layer: int = 2  # falcon-7b's parallel block has one
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # per-head RMSNorm on q and k (Qwen3)
    position_embedding: str = "rope"
    sliding_window: int | None = None
    source: str = ""
    path: str = ""
    derived: tuple[str, ...] = ()  # fields rooflint derived rather than read (for --explain)

    def __post_init__(self) -> None:
        where = self.path or self.name
        for name in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                     "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SpecError(where, name, f"expected a positive integer, got {value!r}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise SpecError(where, "num_key_value_heads",
                            f"{self.num_key_value_heads} KV heads do not divide "
                            f"{self.num_attention_heads} attention heads")
        if self.sliding_window is not None and (isinstance(self.sliding_window, bool)
                                                or not isinstance(self.sliding_window, int)
                                                or self.sliding_window <= 0):
            raise SpecError(where, "sliding_window", f"expected a positive integer or null, got {self.sliding_window!r}")
        for name, allowed in (("mlp", MLP_KINDS), ("norm", NORM_KINDS), ("position_embedding", POSITION_KINDS)):
            if getattr(self, name) not in allowed:
                raise SpecError(where, name, f"expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    @property
    def gqa_groups(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads


def freeze(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))
