"""A model spec: a decoder-only transformer in Hugging Face field names, frozen and validated.

Loading files is catalog.py's job (hf_config.py maps configs); this module only holds and checks
values.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.errors import SpecError
from rooflint.specs import fields
from rooflint.specs.quantization import Quantization

MLP_KINDS = ("gated", "plain")
NORM_KINDS = ("rmsnorm", "layernorm")
POSITION_KINDS = ("rope", "learned", "alibi")
# full / sliding window / Llama 4's chunked local attention / a linear-attention (recurrent) layer
LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention", "linear_attention")
MLP_LAYER_TYPES = ("dense", "moe")
QK_NORM_SCOPES = ("head", "full")
BOOL_FIELDS = ("tie_word_embeddings", "qkv_bias", "o_bias", "mlp_bias", "qk_norm", "shared_expert_gate",
               "expert_bias", "router_bias", "attention_sinks", "attn_output_gate", "fused_qkv", "fused_gate_up")
OPTIONAL_COUNTS = ("max_position_embeddings", "sliding_window", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim",
                   "qk_nope_head_dim", "v_head_dim", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
                   "rotary_dim", "shared_expert_intermediate_size", "attention_chunk_size", "linear_num_key_heads",
                   "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim", "linear_conv_kernel_dim",
                   "router_experts")
LINEAR_FIELDS = ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim",
                 "linear_conv_kernel_dim")


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
    qk_norm: bool = False  # RMSNorm on q and k: per head (Qwen3, Gemma 3) or over the projection (OLMo 2)
    qk_norm_scope: str = "head"
    fused_qkv: bool = False  # one qkv_proj matmul (Phi-3): the input is read once, not three times
    fused_gate_up: bool = False  # one gate_up_proj matmul (Phi-3, gpt-oss's experts)
    attn_output_gate: bool = False  # q_proj also yields a sigmoid gate on the output (Qwen3-Next)
    attention_sinks: bool = False  # one learned sink logit per head (gpt-oss)
    rotary_dim: int | None = None  # dims of a head that rotate (partial rotary: Phi-4-mini, GLM-4.5); None: all
    position_embedding: str = "rope"
    sliding_window: int | None = None
    # Per-layer attention: "full_attention" or "sliding_attention" per layer (HF layer_types);
    # empty means every layer is sliding when sliding_window is set, full otherwise.
    layer_types: tuple[str, ...] = ()
    attention_chunk_size: int | None = None  # chunked_attention layers attend within chunks of this size
    no_rope_layers: tuple[int, ...] = ()  # layer indices without a position encoding (Llama 4's NoPE layers)
    # Gated DeltaNet linear-attention layers (Qwen3-Next): heads and dims of k and v, conv kernel.
    linear_num_key_heads: int | None = None
    linear_num_value_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel_dim: int | None = None
    # Multi-head latent attention (DeepSeek-V2/V3): all four set, or none.
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    # Mixture of experts: routed experts, top-k per token, always-on shared experts, expert width,
    # and the first layers that keep a dense MLP of intermediate_size.
    num_experts: int | None = None
    num_experts_per_tok: int | None = None
    router_experts: int | None = None  # experts the router scores (None: num_experts); an expert-parallel
    # GPU (analysis/expert_parallel.py) holds E / ep of them but routes over all E
    num_shared_experts: int = 0
    moe_intermediate_size: int | None = None
    first_dense_layers: int = 0
    mlp_layer_types: tuple[str, ...] = ()  # "dense" / "moe" per layer; empty: the first_dense_layers rule
    shared_expert_intermediate_size: int | None = None  # None: num_shared_experts x moe_intermediate_size
    shared_expert_gate: bool = False  # a sigmoid gate (D -> 1) on the shared expert (Qwen2-MoE, Qwen3-Next)
    expert_bias: bool = False  # biases on the experts' projections (gpt-oss)
    router_bias: bool = False  # one bias per expert on the router (gpt-oss; DeepSeek-V3's score correction)
    mtp_layers: int = 0  # multi-token-prediction modules (DeepSeek-V3, GLM-4.5), counted apart
    vision_parameters: int = 0  # a multimodal checkpoint's vision tower and projector
    quantization: Quantization | None = None  # the checkpoint's weight formats (quantization_config)
    checkpoint_dtype: str = ""  # the file's torch_dtype as a rooflint dtype (bf16, fp16, fp32); "" unknown
    source: str = ""
    path: str = ""
    derived: tuple[str, ...] = ()  # fields rooflint derived rather than read (for --explain)

    def __post_init__(self) -> None:
        where = self.path or self.name
        if not isinstance(self.path, str):
            raise SpecError(self.name if isinstance(self.name, str) else "model", "path", "expected text")
        fields.name(where, "name", self.name)
        fields.name(where, "model_type", self.model_type)
        for key in fields.INT_BOUNDS:
            fields.count(where, key, getattr(self, key), optional=key in OPTIONAL_COUNTS)
        for key in BOOL_FIELDS:
            fields.flag(where, key, getattr(self, key))
        if self.checkpoint_dtype not in ("", "bf16", "fp16", "fp32"):
            raise SpecError(where, "checkpoint_dtype", f"expected bf16, fp16 or fp32, got {fields.show(self.checkpoint_dtype)}")
        if self.quantization is not None and not isinstance(self.quantization, Quantization):
            raise SpecError(where, "quantization", "expected a Quantization (from quantization_config)")
        fields.name(where, "hidden_act", self.hidden_act)
        fields.text(where, "source", self.source, optional=False)
        if not isinstance(self.derived, tuple) or not all(isinstance(d, str) for d in self.derived):
            raise SpecError(where, "derived", "expected a tuple of notes")
        for key, allowed in (("mlp", MLP_KINDS), ("norm", NORM_KINDS), ("position_embedding", POSITION_KINDS),
                             ("qk_norm_scope", QK_NORM_SCOPES)):
            if getattr(self, key) not in allowed:
                raise SpecError(where, key, f"expected one of {', '.join(allowed)}, got {fields.show(getattr(self, key))}")
        self._check_attention(where)
        self._check_mla(where)
        self._check_moe(where)
        self._check_layers(where)

    def _check_attention(self, where: str) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise SpecError(where, "num_key_value_heads",
                            f"{self.num_key_value_heads} KV heads do not divide "
                            f"{self.num_attention_heads} attention heads")
        if self.num_attention_heads * self.head_dim > fields.INT_BOUNDS["hidden_size"][1]:
            raise SpecError(where, "head_dim", f"num_attention_heads x head_dim = {self.num_attention_heads} x "
                            f"{self.head_dim} exceeds {fields.INT_BOUNDS['hidden_size'][1]:,} (rooflint's bound)")
        limit = self.max_position_embeddings
        if self.sliding_window is not None and limit is not None and self.sliding_window > limit:
            raise SpecError(where, "sliding_window", f"{self.sliding_window:,} exceeds max_position_embeddings "
                            f"{limit:,}; a window no sequence can fill is no window (use null)")

    def _check_mla(self, where: str) -> None:
        mla = [self.kv_lora_rank, self.qk_rope_head_dim, self.qk_nope_head_dim, self.v_head_dim]
        if any(v is not None for v in mla) and not all(v is not None for v in mla):
            raise SpecError(where, "kv_lora_rank", "MLA needs kv_lora_rank, qk_rope_head_dim, "
                            "qk_nope_head_dim and v_head_dim together")
        if self.q_lora_rank is not None and self.kv_lora_rank is None:
            raise SpecError(where, "q_lora_rank", "a query compression needs MLA (kv_lora_rank and the rest)")
        if self.kv_lora_rank is not None and self.head_dim != self.qk_nope_head_dim + self.qk_rope_head_dim:
            raise SpecError(where, "head_dim", f"{self.head_dim} is not MLA's qk_nope_head_dim + qk_rope_head_dim "
                            f"= {self.qk_nope_head_dim} + {self.qk_rope_head_dim}")

    def _check_moe(self, where: str) -> None:
        if self.num_experts is not None:
            if self.num_experts_per_tok is None or self.moe_intermediate_size is None:
                raise SpecError(where, "num_experts_per_tok", "a mixture of experts needs "
                                "num_experts_per_tok and moe_intermediate_size")
            if self.router_experts is not None and self.router_experts < self.num_experts:
                raise SpecError(where, "router_experts", f"{self.router_experts} is fewer than num_experts "
                                f"{self.num_experts}")
            if self.num_experts_per_tok > self.num_experts:
                raise SpecError(where, "num_experts_per_tok",
                                f"{self.num_experts_per_tok} exceeds num_experts {self.num_experts}")
        if self.first_dense_layers > self.num_hidden_layers:
            raise SpecError(where, "first_dense_layers", f"{self.first_dense_layers} dense layers of "
                            f"{self.num_hidden_layers} layers")

    def _check_layers(self, where: str) -> None:
        if not isinstance(self.layer_types, tuple):
            raise SpecError(where, "layer_types", f"expected a tuple of layer type names, got {fields.show(self.layer_types)}")
        if self.layer_types:
            if len(self.layer_types) != self.num_hidden_layers:
                raise SpecError(where, "layer_types", f"{len(self.layer_types)} entries for "
                                f"{self.num_hidden_layers} layers")
            bad = [t for t in self.layer_types if t not in LAYER_TYPES]
            if bad:
                raise SpecError(where, "layer_types", f"unsupported layer type {fields.show(bad[0])} "
                                f"(rooflint models {', '.join(LAYER_TYPES)})")
            if "sliding_attention" in self.layer_types and not self.sliding_window:
                raise SpecError(where, "sliding_window", "sliding_attention layers need a sliding_window")
            if "chunked_attention" in self.layer_types and not self.attention_chunk_size:
                raise SpecError(where, "attention_chunk_size", "chunked_attention layers need an attention_chunk_size")
            if "linear_attention" in self.layer_types:
                missing = [k for k in LINEAR_FIELDS if getattr(self, k) is None]
                if missing:
                    raise SpecError(where, missing[0], "linear_attention layers need "
                                    + ", ".join(LINEAR_FIELDS))
        for key, types, allowed in (("mlp_layer_types", self.mlp_layer_types, MLP_LAYER_TYPES),):
            if not isinstance(types, tuple) or (types and len(types) != self.num_hidden_layers):
                raise SpecError(where, key, f"expected one entry per layer ({self.num_hidden_layers})")
            bad = [t for t in types if t not in allowed]
            if bad:
                raise SpecError(where, key, f"unsupported entry {fields.show(bad[0])} (one of {', '.join(allowed)})")
        if "moe" in self.mlp_layer_types and not self.is_moe:
            raise SpecError(where, "mlp_layer_types", "moe layers need num_experts")
        if not isinstance(self.no_rope_layers, tuple) or not all(
                fields.is_int(i) and 0 <= i < self.num_hidden_layers for i in self.no_rope_layers):
            raise SpecError(where, "no_rope_layers", "expected layer indices below num_hidden_layers")
        if self.rotary_dim is not None and self.rotary_dim > self.head_dim:
            raise SpecError(where, "rotary_dim", f"{self.rotary_dim} exceeds head_dim {self.head_dim}")

    @property
    def gqa_groups(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def is_moe(self) -> bool:
        return self.num_experts is not None

    @property
    def is_hybrid(self) -> bool:
        """Some layers keep a recurrent state instead of a KV cache."""
        return "linear_attention" in self.layer_types

    def layer_kind(self, index: int) -> str:
        """full, sliding, chunked or linear."""
        if self.layer_types:
            return self.layer_types[index].split("_")[0]
        return "sliding" if self.sliding_window else "full"

    def layer_window(self, index: int) -> int | None:
        """Tokens a layer keeps: its sliding window or attention chunk; None for full attention
        (and for a linear-attention layer, which keeps a state instead)."""
        kind = self.layer_kind(index)
        return self.sliding_window if kind == "sliding" else self.attention_chunk_size if kind == "chunked" else None

    def layer_is_moe(self, index: int) -> bool:
        if self.mlp_layer_types:
            return self.mlp_layer_types[index] == "moe"
        return self.is_moe and index >= self.first_dense_layers

    def layer_has_rope(self, index: int) -> bool:
        return self.position_embedding == "rope" and index not in self.no_rope_layers

    @property
    def shared_width(self) -> int:
        """The shared experts' combined width (0 without)."""
        if self.shared_expert_intermediate_size is not None:
            return self.shared_expert_intermediate_size
        return self.num_shared_experts * (self.moe_intermediate_size or 0)
