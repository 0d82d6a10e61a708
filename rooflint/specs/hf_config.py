"""Map Hugging Face config fields (per model family) onto rooflint's Model.

One mapper serves both built-in YAML specs and users' config.json files. A family or an
attention feature rooflint does not model is refused with a message, never silently treated
as plain multi-head attention.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any, Callable

from rooflint.errors import SpecError
from rooflint.specs import Model, fields
from rooflint.specs.hf_schema import check_config
from rooflint.specs.model import MLP_KINDS, NORM_KINDS, OPTIONAL_COUNTS, POSITION_KINDS
from rooflint.units import UnitParseError, parse_count

# Fields present in real configs that change nothing rooflint computes.
IGNORED = {
    "architectures", "auto_map", "bos_token_id", "eos_token_id", "pad_token_id", "torch_dtype",
    "dtype", "transformers_version", "use_cache", "initializer_range", "rms_norm_eps",
    "layer_norm_eps", "layer_norm_epsilon", "rope_theta", "rope_scaling", "rope_parameters",
    "attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
    "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
    "summary_use_proj", "task_specific_params", "scale_attn_weights", "n_ctx", "pretraining_tp",
    "max_window_layers", "tie_word_embeddings", "use_sliding_window", "sliding_window",
    "hidden_activation", "hidden_act", "activation_function", "head_dim", "model_type",
    "name", "source", "notes", "reorder_and_upcast_attn", "scale_attn_by_inverse_layer_idx",
    "apply_residual_connection_post_layernorm", "_name_or_path", "quantization_config",
    "attn_implementation", "output_attentions", "output_hidden_states", "return_dict",
    "keys_to_ignore_at_inference", "_attn_implementation_autoset",
}

# Keys that signal an architecture rooflint does not model yet: refuse rather than guess.
UNSUPPORTED = {
    "kv_lora_rank": "multi-head latent attention (MLA)",
    "q_lora_rank": "multi-head latent attention (MLA)",
    "num_local_experts": "mixture of experts",
    "n_routed_experts": "mixture of experts",
    "num_experts": "mixture of experts",
    "moe_intermediate_size": "mixture of experts",
    "layer_types": "per-layer attention types",
    "is_encoder_decoder": "encoder-decoder models",
    "cross_attention_hidden_size": "cross-attention",
    "attention_layers": "per-layer attention types",
}


class _Refused(Exception):
    """A field a family mapper refuses; model_from_mapping names the file."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _get(raw: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if raw.get(key) is not None:
            return raw[key]
    return default


def _llama_like(raw: Mapping[str, Any], family: str) -> dict[str, Any]:
    heads = raw.get("num_attention_heads")
    window = raw.get("sliding_window")
    if family in ("qwen2", "qwen3") and not raw.get("use_sliding_window", False):
        window = None  # Qwen2/Qwen3 configs carry a window and switch it off (HF: sliding_window=None then)
    if family == "mistral" and "sliding_window" not in raw:
        window = 4096  # MistralConfig's default
    return {
        "num_hidden_layers": raw.get("num_hidden_layers"),
        "hidden_size": raw.get("hidden_size"),
        "num_attention_heads": heads,
        "num_key_value_heads": _get(raw, "num_key_value_heads", default=heads),
        "head_dim": raw.get("head_dim"),
        "intermediate_size": raw.get("intermediate_size"),
        "vocab_size": raw.get("vocab_size"),
        "max_position_embeddings": raw.get("max_position_embeddings"),
        "mlp": "gated",
        "hidden_act": _get(raw, "hidden_activation", "hidden_act", default="silu"),
        "norm": "rmsnorm",
        "tie_word_embeddings": raw.get("tie_word_embeddings", family == "gemma"),
        # Qwen2 hard-codes biases on q, k, v (not o); llama's attention_bias covers all four.
        "qkv_bias": True if family == "qwen2" else bool(raw.get("attention_bias", False)),
        "o_bias": False if family == "qwen2" else bool(raw.get("attention_bias", False)),
        "mlp_bias": bool(raw.get("mlp_bias", False)),
        "qk_norm": family in ("qwen3", "gemma3"),
        "sliding_window": window,
        "layer_types": _layer_types(raw, window) or _qwen_layers(raw, family, window),
    }


def _qwen_layers(raw: Mapping[str, Any], family: str, window: Any) -> tuple[str, ...]:
    """Qwen2/Qwen3 with use_sliding_window: layers from max_window_layers on slide (HF's default
    layer_types), the ones before attend fully."""
    layers = raw.get("num_hidden_layers")
    if family not in ("qwen2", "qwen3") or not window or not isinstance(layers, int):
        return ()
    first = raw.get("max_window_layers", 0)  # an integer 0..MAX_LAYERS (hf_schema)
    if first > layers:
        raise _Refused("max_window_layers", f"{first} exceeds num_hidden_layers {layers}: no layer would slide "
                       "(set use_sliding_window false)")
    return tuple("sliding_attention" if i >= first else "full_attention" for i in range(layers))


def _layer_types(raw: Mapping[str, Any], window: Any) -> tuple[str, ...]:
    """HF's explicit layer_types, else () (uniform layers)."""
    types = raw.get("layer_types")  # a list of known names (hf_schema); its length Model checks
    return () if types is None else tuple(types)


def _gemma2(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Gemma 2: layers alternate sliding (even index) and global; four norms per layer."""
    out = _llama_like(raw, "gemma")
    layers = raw.get("num_hidden_layers")
    if not out["layer_types"] and isinstance(layers, int) and out["sliding_window"]:
        out["layer_types"] = tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers))
    out["norms_per_layer"] = 4
    return out


def _gemma3(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Gemma 3 text: 5 local (sliding) layers to 1 global unless layer_types says otherwise."""
    raw = raw.get("text_config") or raw
    out = _llama_like(raw, "gemma3")
    out["tie_word_embeddings"] = raw.get("tie_word_embeddings", True)
    layers = raw.get("num_hidden_layers")
    pattern = raw.get("sliding_window_pattern", 6)  # a positive integer (hf_schema)
    if not out["layer_types"] and isinstance(layers, int) and out["sliding_window"]:
        out["layer_types"] = tuple("full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                                      for i in range(layers))
    out["norms_per_layer"] = 4
    return out


def _mixtral(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _llama_like(raw, "mistral")
    if "sliding_window" not in raw:
        out["sliding_window"] = None
    out.update(num_experts=raw.get("num_local_experts"), num_experts_per_tok=raw.get("num_experts_per_tok", 2),
                  moe_intermediate_size=raw.get("intermediate_size"))
    return out


def _deepseek(raw: Mapping[str, Any]) -> dict[str, Any]:
    """DeepSeek-V2/V3: MLA attention and a MoE MLP after the first dense layers."""
    out = _llama_like(raw, "deepseek")
    heads = raw.get("num_attention_heads")
    out.update(
        num_key_value_heads=heads,  # MLA's per-head K/V once decompressed; the latent is shared
        head_dim=None,  # qk_nope_head_dim + qk_rope_head_dim, once --set has applied (model_from_mapping)
        kv_lora_rank=raw.get("kv_lora_rank"), q_lora_rank=raw.get("q_lora_rank"),
        qk_rope_head_dim=raw.get("qk_rope_head_dim"), qk_nope_head_dim=raw.get("qk_nope_head_dim"),
        v_head_dim=raw.get("v_head_dim"),
        num_experts=raw.get("n_routed_experts"), num_experts_per_tok=raw.get("num_experts_per_tok"),
        num_shared_experts=raw.get("n_shared_experts") or 0, moe_intermediate_size=raw.get("moe_intermediate_size"),
        first_dense_layers=raw.get("first_k_dense_replace", 0),
    )
    if raw.get("moe_layer_freq", 1) != 1:
        raise _Refused("moe_layer_freq", "only every-layer MoE (moe_layer_freq 1) is modelled")
    layers, experts = raw.get("num_hidden_layers"), raw.get("n_routed_experts")
    if isinstance(layers, int) and out["first_dense_layers"] > layers:
        raise _Refused("first_k_dense_replace", f"{out['first_dense_layers']} dense layers of {layers} layers")
    top_k = raw.get("num_experts_per_tok")
    if experts is not None and top_k is not None and top_k > experts:
        raise _Refused("num_experts_per_tok", f"{top_k} exceeds n_routed_experts {experts}")
    return out


def _gpt2(raw: Mapping[str, Any]) -> dict[str, Any]:
    hidden = _get(raw, "n_embd", "hidden_size")
    heads = _get(raw, "n_head", "num_attention_heads")
    return {
        "num_hidden_layers": _get(raw, "n_layer", "num_hidden_layers"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "head_dim": None,
        "intermediate_size": _get(raw, "n_inner", default=4 * hidden if isinstance(hidden, int) else None),
        "vocab_size": raw.get("vocab_size"),
        "max_position_embeddings": _get(raw, "n_positions", "max_position_embeddings"),
        "mlp": "plain",
        "hidden_act": raw.get("activation_function", "gelu_new"),
        "norm": "layernorm",
        "tie_word_embeddings": raw.get("tie_word_embeddings", True),
        "qkv_bias": True, "o_bias": True, "mlp_bias": True,
        "position_embedding": "learned",
    }


def _falcon(raw: Mapping[str, Any]) -> dict[str, Any]:
    hidden = raw.get("hidden_size")
    heads = _get(raw, "num_attention_heads", "n_head")
    new_arch = bool(raw.get("new_decoder_architecture", False))
    if new_arch:
        kv_heads = _get(raw, "num_kv_heads", "n_head_kv", default=heads)
    else:
        kv_heads = 1 if raw.get("multi_query", True) else heads
    bias = bool(raw.get("bias", False))
    parallel = bool(raw.get("parallel_attn", True))
    return {
        "num_hidden_layers": _get(raw, "num_hidden_layers", "n_layer"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": raw.get("head_dim"),
        "intermediate_size": _get(raw, "ffn_hidden_size", default=4 * hidden if isinstance(hidden, int) else None),
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


FAMILIES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "llama": lambda raw: _llama_like(raw, "llama"),
    "mistral": lambda raw: _llama_like(raw, "mistral"),
    "qwen2": lambda raw: _llama_like(raw, "qwen2"),
    "qwen3": lambda raw: _llama_like(raw, "qwen3"),
    "gemma": lambda raw: _llama_like(raw, "gemma"),
    "gemma2": _gemma2,
    "gemma3": _gemma3,
    "gemma3_text": _gemma3,
    "mixtral": _mixtral,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt2": _gpt2,
    "falcon": _falcon,
    "RefinedWebModel": _falcon,
    "RefinedWeb": _falcon,
}

# The raw keys each family's mapper reads (for strict checking of rooflint's own YAML).
FAMILY_KEYS = {
    "llama_like": {"num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
                   "intermediate_size", "vocab_size", "max_position_embeddings", "attention_bias",
                   "mlp_bias"},
    "gpt2": {"n_layer", "n_embd", "n_head", "n_inner", "n_positions", "vocab_size"},
    "falcon": {"num_hidden_layers", "n_layer", "hidden_size", "num_attention_heads", "n_head",
               "new_decoder_architecture", "num_kv_heads", "n_head_kv", "multi_query", "bias",
               "parallel_attn", "ffn_hidden_size", "vocab_size", "max_position_embeddings",
               "activation", "alibi"},
}


HANDLED = {
    "mixtral": {"num_local_experts", "num_experts_per_tok"},
    "deepseek_v2": {"kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
                    "n_routed_experts", "num_experts_per_tok", "n_shared_experts", "moe_intermediate_size",
                    "first_k_dense_replace", "moe_layer_freq"},
}
HANDLED["deepseek_v3"] = HANDLED["deepseek_v2"]
for _family in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text"):
    HANDLED[_family] = {"layer_types"}
HANDLED["gemma2"] = HANDLED["gemma3"] = HANDLED["gemma3_text"] = {"layer_types", "sliding_window_pattern",
                                                                    "query_pre_attn_scalar", "text_config"}
# Fields with no cost (scalars, softcaps, routing details) that rooflint's own YAML may carry.
COSTLESS = {"query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
            "sliding_window_pattern", "norm_topk_prob", "routed_scaling_factor", "scoring_func",
            "topk_method", "n_group", "topk_group", "ep_size", "aux_loss_alpha", "seq_aux",
            "num_nextn_predict_layers", "router_aux_loss_coef", "output_router_logits",
            "router_jitter_noise", "rope_local_base_freq", "cache_implementation"}


def _family_keys(model_type: str) -> set[str]:
    if model_type == "gpt2":
        return FAMILY_KEYS["gpt2"]
    if model_type in ("falcon", "RefinedWebModel", "RefinedWeb"):
        return FAMILY_KEYS["falcon"]
    return FAMILY_KEYS["llama_like"] | HANDLED.get(model_type, set()) | COSTLESS


def settable_fields() -> dict[str, type]:
    """Model fields that --set may override, with the type each takes."""
    skip = {"name", "model_type", "source", "path", "derived", "layer_types"}
    types = {"int": int, "bool": bool, "str": str, "int | None": int}
    return {f.name: types[str(f.type)] for f in dataclasses.fields(Model) if f.name not in skip}


MLA_FAMILIES = ("deepseek_v2", "deepseek_v3")
MLA_FIELDS = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
MAX_OVERRIDE = 100  # characters in a --set value


def model_from_mapping(raw: Mapping[str, Any], where: str, *, strict: bool,
                       overrides: Mapping[str, Any], default_name: str) -> Model:
    model_type = raw.get("model_type")
    if not isinstance(model_type, str):
        raise SpecError(where, "model_type", "missing: rooflint needs the model family "
                        f"(one of {', '.join(sorted(FAMILIES))})" if model_type is None else
                        f"expected a family name, got {fields.show(model_type)}")
    if model_type not in FAMILIES:
        raise SpecError(where, "model_type", f"{fields.show(model_type)} is not a family rooflint models "
                        f"(supported: {', '.join(sorted(FAMILIES))}); refusing to guess its attention")
    for key, feature in UNSUPPORTED.items():
        if raw.get(key) and key not in HANDLED.get(model_type, set()):
            raise SpecError(where, key, f"{feature} is not supported by this version of rooflint")
    if strict:
        allowed = _family_keys(model_type) | IGNORED
        for key in raw:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise SpecError(where, str(key), f"unknown field for model_type {model_type}{hint}")
    raw = check_config(raw, where)

    parsed = _parse_overrides(overrides)
    # The layer pattern a family derives (Gemma 2/3, Qwen) follows --set layers and window.
    seen = {**raw, **{k: parsed[k] for k in ("num_hidden_layers", "sliding_window") if k in parsed}}
    try:
        spec = FAMILIES[model_type](seen)
    except _Refused as exc:
        raise SpecError(where, exc.field, exc.message) from None
    spec.update(name=raw.get("name") or default_name, model_type=model_type, source=raw.get("source") or "",
                path=where)
    spec.update(parsed)

    required = ["num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size"]
    if model_type in MLA_FAMILIES:
        required += MLA_FIELDS  # HF's defaults for these are DeepSeek-V2's; rooflint wants them written out
    for key in required:
        if spec.get(key) is None:
            raise SpecError(where, key, "missing" if key not in MLA_FIELDS else
                            "missing (DeepSeek's multi-head latent attention needs it)")
    derived = []
    if model_type in MLA_FAMILIES and "head_dim" not in overrides:
        spec["head_dim"] = spec["qk_nope_head_dim"] + spec["qk_rope_head_dim"]
    if spec.get("head_dim") is None:
        hidden, heads = spec["hidden_size"], spec["num_attention_heads"]
        if hidden % heads:
            raise SpecError(where, "head_dim", f"missing, and hidden_size {hidden} is not a "
                            f"multiple of num_attention_heads {heads}; give head_dim explicitly")
        spec["head_dim"] = hidden // heads
        derived.append("head_dim = hidden_size / num_attention_heads")
    spec["derived"] = tuple(derived)
    return Model(**spec)


_CHOICES = {"mlp": MLP_KINDS, "norm": NORM_KINDS, "position_embedding": POSITION_KINDS}


def _parse_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """--set FIELD=VALUE: the text parsed into the field's type and held to the same bounds as a
    file's value (an integer such as 8 or 4k, true or false, a name; null for an optional count).
    A library caller may pass typed values; they are checked the same way."""
    kinds = settable_fields()
    parsed: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in kinds:
            close = difflib.get_close_matches(str(key), sorted(kinds), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SpecError("--set", str(key), f"not a model field{hint}")
        parsed[key] = _override(key, kinds[key], value)
    return parsed


def _override(key: str, kind: type, value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise SpecError("--set", key, "no value given (FIELD=VALUE)")
        if len(text) > MAX_OVERRIDE:
            raise SpecError("--set", key, f"a value of {len(text):,} characters (at most {MAX_OVERRIDE})")
        if key in OPTIONAL_COUNTS and text.lower() in ("null", "none"):
            return None
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise SpecError("--set", key, f"expected true or false, got {fields.show(text)}")
            return text.lower() == "true"
        if kind is int:
            try:
                value = parse_count(text)
            except (UnitParseError, ValueError, OverflowError):
                raise SpecError("--set", key, f"expected a whole number such as 8 or 4k, got {fields.show(text)}") from None
    if value is None and key in OPTIONAL_COUNTS:
        return None
    if kind is bool:
        return fields.flag("--set", key, value)
    if kind is int:
        return fields.count("--set", key, value)
    value = fields.name("--set", key, value)
    if key in _CHOICES and value not in _CHOICES[key]:
        raise SpecError("--set", key, f"expected one of {', '.join(_CHOICES[key])}, got {fields.show(value)}")
    return value
