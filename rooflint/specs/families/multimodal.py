"""Multimodal wrappers (mistral3, gemma3, llama4): rooflint analyses the text decoder in
`text_config` and counts the vision tower and its projector apart (their parameters and weight
bytes; no image tokens are modelled).

Each count follows the wrapper's modeling code in transformers, with the vision config's
defaults for fields a published file leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from rooflint.specs.families.common import Refused


def _int(cfg: Mapping[str, Any], key: str, defaults: Mapping[str, int], where: str) -> int:
    value = cfg.get(key, defaults.get(key))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 2**20:
        raise Refused(f"{where}.{key}" if where else key, f"expected a positive integer at most {2**20:,}, got {value!r}")
    return value


SIGLIP_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_channels": 3,
                   "image_size": 224, "patch_size": 16}


def siglip_parameters(vision: Mapping[str, Any], text_hidden: int) -> int:
    """Gemma 3: SiglipVisionTransformer (modeling_siglip.py; no pooling head) and
    Gemma3MultiModalProjector (an RMSNorm of the vision width and a vision x text projection)."""
    v = {k: _int(vision, k, SIGLIP_DEFAULTS, "vision_config") for k in SIGLIP_DEFAULTS}
    h, i, p, c = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["num_channels"]
    patches = (v["image_size"] // p) ** 2
    embed = c * p * p * h + h + patches * h  # patch conv (with bias), position embedding
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h  # q,k,v,o; fc1, fc2; two LayerNorms
    tower = embed + v["num_hidden_layers"] * layer + 2 * h  # post_layernorm
    return tower + h + h * text_hidden


PIXTRAL_DEFAULTS = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_channels": 3,
                    "patch_size": 16}


def pixtral_parameters(vision: Mapping[str, Any], text_hidden: int, wrapper: Mapping[str, Any]) -> int:
    """Mistral 3: PixtralVisionModel (modeling_pixtral.py: bias-free patch conv, RMSNorms, gated
    MLP) and Mistral3MultiModalProjector (RMSNorm, the patch merger's (h s^2) x h merge, two
    linears h -> D -> D with biases when multimodal_projector_bias)."""
    v = {k: _int(vision, k, PIXTRAL_DEFAULTS, "vision_config") for k in PIXTRAL_DEFAULTS}
    h, i, p, c = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["num_channels"]
    tower = c * p * p * h + h + v["num_hidden_layers"] * (4 * h * h + 3 * h * i + 2 * h)  # conv, ln_pre, layers
    merge = _int(wrapper, "spatial_merge_size", {"spatial_merge_size": 2}, "")
    bias = wrapper.get("multimodal_projector_bias", False)
    if not isinstance(bias, bool):
        raise Refused("multimodal_projector_bias", f"expected true or false, got {bias!r}")
    projector = h + h * merge * merge * h + h * text_hidden + text_hidden * text_hidden + (2 * text_hidden if bias else 0)
    return tower + projector


LLAMA4_VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 5632, "num_hidden_layers": 34, "num_channels": 3,
                          "image_size": 448, "patch_size": 14, "projector_input_dim": 4096,
                          "projector_output_dim": 4096, "vision_output_dim": 7680}


def llama4_vision_parameters(vision: Mapping[str, Any], text_hidden: int) -> int:
    """Llama 4: Llama4VisionModel (modeling_llama4.py: unfold-linear patch embedding, class
    embedding, position embedding over patches + 1, LayerNorms pre and post, layers with biased
    q/k/v/o and fc1/fc2, the pixel-shuffle MLP adapter) and the bias-free projector to the text width."""
    v = {k: _int(vision, k, LLAMA4_VISION_DEFAULTS, "vision_config") for k in LLAMA4_VISION_DEFAULTS}
    h, i, p, c = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["num_channels"]
    ratio = vision.get("pixel_shuffle_ratio", 0.5)
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 < ratio <= 1:
        raise Refused("vision_config.pixel_shuffle_ratio", f"expected a fraction in (0, 1], got {ratio!r}")
    patches = (v["image_size"] // p) ** 2
    embed = c * p * p * h + h + (patches + 1) * h + 2 * (2 * h)
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
    shuffled = int(h / (ratio * ratio))  # the adapter's input: h / ratio^2 channels after the shuffle
    adapter = shuffled * v["projector_input_dim"] + v["projector_input_dim"] * v["projector_output_dim"]
    return embed + v["num_hidden_layers"] * layer + adapter + v["vision_output_dim"] * text_hidden


@dataclass(frozen=True, slots=True)
class Wrapper:
    text_family: str  # the model_type of text_config when it names none
    vision: Callable[[Mapping[str, Any], int, Mapping[str, Any]], int]


WRAPPERS = {
    "gemma3": Wrapper("gemma3_text", lambda v, d, raw: siglip_parameters(v, d)),
    "mistral3": Wrapper("mistral", pixtral_parameters),
    "llama4": Wrapper("llama4_text", lambda v, d, raw: llama4_vision_parameters(v, d)),
}


def unwrap(raw: Mapping[str, Any], family: str) -> tuple[dict[str, Any], str, Mapping[str, Any] | None]:
    """(the text config, its family, the vision config) of a wrapper's config."""
    text = raw.get("text_config")
    if text is None:  # a text-only file under the wrapper's name
        text = {k: v for k, v in raw.items() if k not in ("vision_config", "model_type")}
    if not isinstance(text, dict):
        raise Refused("text_config", f"expected a mapping, got {type(text).__name__}")
    inner = dict(text)
    for key in ("quantization_config", "tie_word_embeddings", "name", "source"):
        if key in raw and key not in inner:
            inner[key] = raw[key]
    text_family = inner.get("model_type") or WRAPPERS[family].text_family
    if not isinstance(text_family, str):
        raise Refused("text_config.model_type", f"expected a family name, got {type(text_family).__name__}")
    inner["model_type"] = text_family
    vision = raw.get("vision_config")
    if vision is not None and not isinstance(vision, dict):
        raise Refused("vision_config", f"expected a mapping, got {type(vision).__name__}")
    return inner, text_family, vision
