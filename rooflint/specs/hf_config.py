"""Map Hugging Face config fields (per model family) onto rooflint's Model.

One mapper serves both built-in YAML specs and users' config.json files. A family or an
attention feature rooflint does not model is refused with a message, never silently treated
as plain multi-head attention.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from rooflint.errors import SpecError
from rooflint.specs import Model, fields, module_names, quantization
from rooflint.specs.families import (
    DEFAULT_LAYER_KINDS,
    FAMILIES,
    HANDLED,
    LAYER_KINDS,
    UNSUPPORTED,
    WRAPPERS,
    Refused,
    unwrap,
)
from rooflint.specs.hf_schema import check_config
from rooflint.specs.model import MLP_KINDS, NORM_KINDS, OPTIONAL_COUNTS, POSITION_KINDS, QK_NORM_SCOPES
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
    # identity and provenance, and what only a file's structure gives (the vision tower's count,
    # the checkpoint's dtype); per-layer lists and the quantization are not scalars
    skip = {"name", "model_type", "source", "path", "vision_parameters", "checkpoint_dtype"}
    types = {"int": int, "bool": bool, "str": str, "int | None": int}
    return {f.name: types[str(f.type)] for f in dataclasses.fields(Model)
            if f.name not in skip and str(f.type) in types}


TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}  # config.json's torch_dtype
MLA_FAMILIES = ("deepseek_v2", "deepseek_v3", "kimi_k2")
MLA_FIELDS = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
MAX_OVERRIDE = 100  # characters in a --set value


def families() -> list[str]:
    """Every model_type rooflint reads: the decoder families and the multimodal wrappers."""
    return sorted({*FAMILIES, *WRAPPERS})


def _family(raw: Mapping[str, Any], where: str, as_family: str | None) -> str:
    model_type = raw.get("model_type")
    if as_family is not None:
        if as_family not in FAMILIES and as_family not in WRAPPERS:
            raise SpecError("--as-family", None, f"{fields.show(as_family)} is not a family rooflint maps "
                            f"(one of {', '.join(families())})")
        return as_family
    if not isinstance(model_type, str):
        raise SpecError(where, "model_type", "missing: rooflint needs the model family "
                        f"(one of {', '.join(families())})" if model_type is None else
                        f"expected a family name, got {fields.show(model_type)}")
    if model_type not in FAMILIES and model_type not in WRAPPERS:
        close = difflib.get_close_matches(model_type, families(), n=1)
        hint = f" (closest: {close[0]})" if close else ""
        raise SpecError(where, "model_type", f"{fields.show(model_type)} is not a family rooflint maps{hint}; "
                        "if its modules are those of one that is (a fine-tune or a renamed copy), "
                        "--as-family FAMILY reads it as that family")
    return model_type


def model_from_mapping(raw: Mapping[str, Any], where: str, *, strict: bool,
                       overrides: Mapping[str, Any], default_name: str, as_family: str | None = None) -> Model:
    model_type = _family(raw, where, as_family)
    raw = check_config(raw, where)
    vision_parameters, vision, outer, wrapper = 0, None, raw, None
    if model_type in WRAPPERS:
        wrapper = model_type
        try:
            raw, model_type, vision = unwrap(raw, model_type)
        except Refused as exc:
            raise SpecError(where, exc.field, exc.message) from None
        if model_type not in FAMILIES:
            raise SpecError(where, "text_config.model_type", f"{fields.show(model_type)} is not a text family "
                            f"rooflint maps (one of {', '.join(sorted(FAMILIES))})")
    for key, feature in UNSUPPORTED.items():
        if raw.get(key) and key not in HANDLED.get(model_type, set()):
            raise SpecError(where, key, f"{feature} ({key}) is not modelled for model_type {model_type}; "
                            "rooflint maps it for " + (", ".join(sorted(f for f, keys in HANDLED.items() if key in keys))
                                                       or "no family yet"))
    if strict:
        allowed = _family_keys(model_type) | IGNORED
        for key in raw:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise SpecError(where, str(key), f"unknown field for model_type {model_type}{hint}")

    parsed = _parse_overrides(overrides)
    # The layer pattern a family derives (Gemma 2/3, Qwen) follows --set layers and window.
    seen = {**raw, **{k: parsed[k] for k in ("num_hidden_layers", "sliding_window") if k in parsed}}
    try:
        spec = FAMILIES[model_type](seen)
        if vision is not None:
            hidden = spec.get("hidden_size")
            vision_parameters = WRAPPERS[wrapper].vision(vision, hidden, outer) if isinstance(hidden, int) else 0
    except Refused as exc:
        raise SpecError(where, exc.field, exc.message) from None
    kinds = LAYER_KINDS.get(model_type, DEFAULT_LAYER_KINDS)
    odd = next((t for t in spec.get("layer_types") or () if t not in kinds), None)
    if odd is not None:
        raise SpecError(where, "layer_types", f"unsupported layer type {fields.show(odd)} for model_type "
                        f"{model_type} (its layers: {', '.join(kinds)})")
    spec.update(name=raw.get("name") or default_name, model_type=model_type, source=raw.get("source") or "",
                path=where, vision_parameters=vision_parameters,
                checkpoint_dtype=TORCH_DTYPES.get(str(outer.get("torch_dtype") or outer.get("dtype") or ""), ""))
    spec.update(parsed)

    required = ["num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size"]
    if model_type in MLA_FAMILIES:
        required += MLA_FIELDS  # HF's defaults for these are DeepSeek-V2's; rooflint wants them written out
    for key in required:
        if spec.get(key) is None:
            raise SpecError(where, key, "missing" if key not in MLA_FIELDS else
                            "missing (DeepSeek's multi-head latent attention needs it)")
    derived = [f"read as {model_type} (--as-family)"] if as_family else []
    if model_type in MLA_FAMILIES and "head_dim" not in overrides:
        spec["head_dim"] = spec["qk_nope_head_dim"] + spec["qk_rope_head_dim"]
    if spec.get("head_dim") is None:
        hidden, heads = spec["hidden_size"], spec["num_attention_heads"]
        if hidden % heads:
            raise SpecError(where, "head_dim", f"missing, and hidden_size {hidden} is not a "
                            f"multiple of num_attention_heads {heads}; give head_dim explicitly")
        spec["head_dim"] = hidden // heads
        derived.append("head_dim = hidden_size / num_attention_heads")
    if vision_parameters:
        derived.append(f"vision tower and projector: {vision_parameters:,} parameters (vision_config)")
    spec["derived"] = tuple(derived)
    model = Model(**spec)
    if raw.get("quantization_config") is not None:
        model = _quantized(model, raw["quantization_config"], where)
    return model


def _quantized(model: Model, qc: Any, where: str) -> Model:
    """The model with its checkpoint's weight formats (specs/quantization.py)."""
    layers = range(model.num_hidden_layers)
    moe = [i for i in layers if model.layer_is_moe(i)]
    held = {"attention": tuple(layers), "mlp": tuple(i for i in layers if not model.layer_is_moe(i)),
            "shared_experts": tuple(moe) if model.shared_width else (), "experts": tuple(moe),
            "lm_head": () if model.tie_word_embeddings else (0,)}
    q = quantization.read(where, qc, held, lambda layer, cls: module_names.spellings(model, layer, cls))
    return dataclasses.replace(model, quantization=q)


_CHOICES = {"mlp": MLP_KINDS, "norm": NORM_KINDS, "position_embedding": POSITION_KINDS,
            "qk_norm_scope": QK_NORM_SCOPES}


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
