"""The Hugging Face module names of a model's weights, as checkpoints' ignore lists name them.

A list such as `modules_to_not_convert` or compressed-tensors' `ignore` names modules by their
path in the checkpoint: `model.layers.3.self_attn.o_proj`, `lm_head`, and under a multimodal
wrapper `model.language_model.layers.3...` (transformers >= 4.52) or
`language_model.model.layers.3...` (older releases). Each family's code names its modules its
own way (Llama 4's `feed_forward`, Qwen3-Next's `linear_attn` and `shared_expert`, DeepSeek's
MLA projections), so a pattern is tried on every spelling a module has.
"""

from __future__ import annotations

from rooflint.specs.model import Model

LAYER_PREFIXES = ("model.layers.{i}.", "model.language_model.layers.{i}.", "language_model.model.layers.{i}.")
HEAD_NAMES = ("lm_head", "language_model.lm_head", "model.language_model.lm_head")


def _attention(m: Model, layer: int) -> tuple[str, ...]:
    if m.layer_kind(layer) == "linear":
        return tuple(f"linear_attn.{p}" for p in ("in_proj_qkvz", "in_proj_ba", "out_proj"))
    if m.is_mla:
        q = ("q_a_proj", "q_b_proj") if m.q_lora_rank else ("q_proj",)
        return tuple(f"self_attn.{p}" for p in (*q, "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"))
    if m.fused_qkv:
        return ("self_attn.qkv_proj", "self_attn.o_proj")
    return tuple(f"self_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "o_proj"))


def _mlp_block(m: Model) -> str:
    return "feed_forward" if m.model_type == "llama4_text" else "mlp"


def _gated(prefix: str, fused: bool) -> tuple[str, ...]:
    return (f"{prefix}.gate_up_proj", f"{prefix}.down_proj") if fused else tuple(
        f"{prefix}.{p}" for p in ("gate_proj", "up_proj", "down_proj"))


def modules(m: Model, layer: int, weight_class: str) -> tuple[str, ...]:
    """The modules of one layer's weight class, relative to the layer."""
    block = _mlp_block(m)
    if weight_class == "attention":
        return _attention(m, layer)
    if weight_class == "mlp":
        return _gated(block, m.fused_gate_up and not m.is_moe)
    if weight_class == "shared_experts":
        shared = "shared_expert" if m.shared_expert_gate or m.model_type == "llama4_text" else "shared_experts"
        return _gated(f"{block}.{shared}", False)
    if weight_class == "experts":
        if m.fused_gate_up:  # gpt-oss and Llama 4 keep all experts in one module
            return (f"{block}.experts",)
        return _gated(f"{block}.experts.0", False)
    raise ValueError(weight_class)


def spellings(m: Model, layer: int, weight_class: str) -> list[tuple[str, ...]]:
    """Per module of the class in that layer, every full name a checkpoint may give it."""
    if weight_class == "lm_head":
        return [HEAD_NAMES]
    return [tuple(p.format(i=layer) + name for p in LAYER_PREFIXES) for name in modules(m, layer, weight_class)]
