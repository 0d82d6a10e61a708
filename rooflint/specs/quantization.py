"""A checkpoint's weight formats, read from its `quantization_config`: which weights are stored in
which dtype, with what scales, and which modules the quantizer left alone.

Weights fall in classes that quantized checkpoints treat differently (gpt-oss: experts in MXFP4,
attention in bf16; Llama 4 Maverick FP8: routed experts only): attention projections, dense MLPs,
shared experts, routed experts, and the lm_head. The embedding, norms, biases, MoE routers and a
vision tower stay at the checkpoint's 16-bit type in every format rooflint reads. A class the
`modules_to_not_convert` / `ignore` / `exclude_modules` list matches in every layer is left
unquantized; one it matches in some layers only is refused (rooflint sizes classes, not layers).

Formats (the config keys each uses):
- fp8 (`quant_method: fp8`, transformers' fine-grained FP8; DeepSeek-V3, Qwen3-FP8): e4m3
  weights, one fp32 `weight_scale_inv` per `weight_block_size` block (128x128: 4 B per 16,384
  elements); dynamic fp8 activations, so the GEMMs run at the fp8 peak.
- mxfp4 (`quant_method: mxfp4`, gpt-oss): e2m1 blocks + one e8m0 scale per 32; dequantized to
  the activations' type on chips without fp4 units (weight-only).
- awq / gptq: int4 (`bits`), one fp16 scale and a packed int4 zero point per `group_size` input
  rows; weight-only (GEMMs at the activations' peak).
- compressed-tensors: `config_groups[*].weights` {num_bits, type int|float, strategy tensor|
  channel|group|tensor_group|block, group_size, symmetric}, `input_activations` (null:
  weight-only), `ignore` (names, or `re:` regular expressions).
- modelopt (`quant_method: modelopt`, `quant_algo: FP8 | NVFP4`): NVFP4 is e2m1 + an e4m3 scale
  per 16 + an fp32 scale per tensor, activations in fp4 too; `exclude_modules`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from rooflint.dtypes import DTYPES, DType, element_bytes
from rooflint.errors import SpecError
from rooflint.specs import fields

WEIGHT_CLASSES = ("attention", "mlp", "shared_experts", "experts", "lm_head")
MAX_PATTERNS = 4096  # entries of an ignore list (Qwen3-FP8 lists one router per layer)


@dataclass(frozen=True, slots=True)
class WeightFormat:
    """How one class of weights is stored: dtype, elements per scale, a packed zero point per
    group, and the dtype the GEMM's activations are quantized to (None: weight-only)."""

    dtype: str
    group_size: int | None = None
    zero_point: bool = False
    activations: str | None = None
    label: str = ""  # e.g. "fp8 e4m3, fp32 scale per 128x128 block"

    @property
    def bytes_per_element(self) -> float:
        return element_bytes(DTYPES[self.dtype], self.group_size, self.zero_point)

    @property
    def scale_bytes_per_element(self) -> float:
        return self.bytes_per_element - DTYPES[self.dtype].bytes


@dataclass(frozen=True, slots=True)
class Quantization:
    """A checkpoint's formats by weight class (a class absent stays 16-bit)."""

    method: str
    formats: tuple[tuple[str, WeightFormat], ...]
    not_converted: tuple[str, ...] = ()  # the config's module patterns, as written
    notes: tuple[str, ...] = ()
    kv_dtype: str | None = None  # the KV cache type it was calibrated for (None: the activations')

    def format(self, weight_class: str) -> WeightFormat | None:
        return dict(self.formats).get(weight_class)


def matches(pattern: str, name: str, exact: bool = False) -> bool:
    """Whether an ignore-list entry names a module: `re:` a regular expression from the start of
    the name (compressed-tensors); a shell wildcard such as `model.layers.*.self_attn` (gpt-oss,
    ModelOpt) the module or one of its parents; else, in transformers' rule, a part of the name,
    or with `exact` (compressed-tensors) the module or a parent by its full name."""
    if pattern.startswith("re:"):
        try:
            return re.match(pattern[3:], name) is not None
        except re.error:
            return False
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")
    if exact:
        return name == pattern or name.startswith(pattern + ".")
    return pattern in name


def _patterns(where: str, qc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = qc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_PATTERNS:
        raise SpecError(where, f"quantization_config.{key}", f"expected a list of module names (at most "
                        f"{MAX_PATTERNS}), got {fields.show(value)}")
    return tuple(fields.name(where, f"quantization_config.{key}[{i}]", v) for i, v in enumerate(value))


def _whole(where: str, qc: Mapping[str, Any], key: str, default: int | None, lo: int = 1) -> int | None:
    value = qc.get(key, default)
    if value is None:
        return None
    return fields.whole(where, f"quantization_config.{key}", value, lo, 2**20)


def _fp8(where: str, qc: Mapping[str, Any]) -> WeightFormat:
    block = qc.get("weight_block_size")
    if block is None:
        return WeightFormat("fp8", None, activations="fp8", label="fp8 e4m3, per-tensor scale")
    if (not isinstance(block, list) or len(block) != 2
            or not all(fields.is_int(b) and 1 <= b <= 2**16 for b in block)):
        raise SpecError(where, "quantization_config.weight_block_size",
                        f"expected two block sizes such as [128, 128], got {fields.show(block)}")
    return WeightFormat("fp8", block[0] * block[1], activations="fp8",
                        label=f"fp8 e4m3, fp32 scale per {block[0]}x{block[1]} block")


def _int4(where: str, qc: Mapping[str, Any], method: str) -> WeightFormat:
    bits = _whole(where, qc, "bits", 4)
    if bits not in (4, 8):
        raise SpecError(where, "quantization_config.bits", f"{bits}-bit {method} is not modelled (4 or 8)")
    group = qc.get("group_size", 128)
    if group == -1:  # GPTQ's per output channel: one scale per row, negligible per element
        group = None
    else:
        group = _whole(where, qc, "group_size", 128)
    zero = method == "gptq" or bool(qc.get("zero_point", True))  # GPTQ stores qzeros even when symmetric
    name = "int4" if bits == 4 else "int8"
    label = f"{name} {method}, fp16 scale{' + int zero' if zero else ''} per {group or 'row'}"
    return WeightFormat(name, group, zero, None, label)


def _compressed(where: str, qc: Mapping[str, Any]) -> WeightFormat:
    groups = qc.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise SpecError(where, "quantization_config.config_groups", "missing: compressed-tensors needs its "
                        "config_groups (weights: num_bits, type, strategy)")
    if len(groups) > 1:
        raise SpecError(where, "quantization_config.config_groups", f"{len(groups)} groups with different "
                        "schemes are not modelled (rooflint reads one scheme per checkpoint)")
    (name, group), = groups.items()
    w = group.get("weights") if isinstance(group, dict) else None
    if not isinstance(w, dict):
        raise SpecError(where, f"quantization_config.config_groups.{name}.weights", "missing")
    bits = w.get("num_bits")
    kind, strategy = w.get("type", "int"), w.get("strategy", "tensor")
    size = w.get("group_size")
    acts = group.get("input_activations")
    if acts is not None and not isinstance(acts, dict):
        raise SpecError(where, f"quantization_config.config_groups.{name}.input_activations",
                        f"expected a mapping or null, got {fields.show(acts)}")
    a_bits = acts.get("num_bits") if isinstance(acts, dict) else None
    where_w = f"quantization_config.config_groups.{name}.weights"
    if kind == "float" and bits == 8:
        g = None
        if strategy == "block":
            block = w.get("block_structure")
            if (not isinstance(block, list) or len(block) != 2
                    or not all(fields.is_int(b) and 1 <= b <= 2**16 for b in block)):
                raise SpecError(where, f"{where_w}.block_structure",
                                f"expected two block sizes such as [128, 128], got {fields.show(block)}")
            g = block[0] * block[1]
        return WeightFormat("fp8", g, activations="fp8" if a_bits == 8 else None,
                            label=f"fp8 e4m3, {strategy} scale" + ("" if a_bits == 8 else ", weight-only"))
    if kind == "float" and bits == 4:
        return WeightFormat("nvfp4", 16, activations="nvfp4" if a_bits == 4 else None,
                            label="nvfp4: e4m3 scale per 16 + fp32 per tensor")
    if kind == "int" and bits in (4, 8):
        g = size if strategy == "group" and fields.is_int(size) and size > 0 else None
        zero = not w.get("symmetric", True)
        dt = "int4" if bits == 4 else "int8"
        return WeightFormat(dt, g, zero, "int8" if a_bits == 8 else None,
                            label=f"{dt}, {strategy} scale{' + zero' if zero else ''}" + (f" per {g}" if g else ""))
    raise SpecError(where, where_w, f"{fields.show(kind)} {fields.show(bits)}-bit weights are not modelled "
                    "(float 8, float 4, int 4, int 8)")


def _modelopt(where: str, qc: Mapping[str, Any]) -> WeightFormat:
    inner = qc.get("quantization") if isinstance(qc.get("quantization"), dict) else qc
    algo = str(inner.get("quant_algo", "")).upper()
    if algo == "FP8":
        return WeightFormat("fp8", None, activations="fp8", label="fp8 e4m3, per-tensor scale (modelopt)")
    if algo == "NVFP4":
        return WeightFormat("nvfp4", 16, activations="nvfp4", label="nvfp4: e4m3 scale per 16 + fp32 per tensor")
    raise SpecError(where, "quantization_config.quant_algo", f"{fields.show(algo)} is not modelled (FP8, NVFP4)")


READERS = {
    "fp8": (_fp8, "modules_to_not_convert"),
    "mxfp4": (lambda where, qc: WeightFormat("mxfp4", 32, label="mxfp4: e2m1 + e8m0 scale per 32"),
              "modules_to_not_convert"),
    "awq": (lambda where, qc: _int4(where, qc, "awq"), "modules_to_not_convert"),
    "gptq": (lambda where, qc: _int4(where, qc, "gptq"), "modules_to_not_convert"),
    "compressed-tensors": (_compressed, "ignore"),
    "modelopt": (_modelopt, "exclude_modules"),
}
REFUSED = {"bitsandbytes": "bitsandbytes' nf4/int8 (use --weight-dtype int4 --weight-group-size 64)",
           "hqq": "HQQ", "eetq": "EETQ", "aqlm": "AQLM", "quanto": "quanto", "gguf": "GGUF", "bitnet": "BitNet",
           "torchao": "torchao's configs", "fbgemm_fp8": "fbgemm fp8", "higgs": "HIGGS", "vptq": "VPTQ",
           "spqr": "SpQR"}


def read(where: str, qc: Any, layers: Mapping[str, tuple[int, ...]],
         spellings: Callable[[int, str], list[tuple[str, ...]]]) -> Quantization:
    """The checkpoint's formats. `layers`: weight class -> the layers holding it (lm_head: (0,));
    `spellings(layer, class)`: per module of the class, the names a checkpoint may give it."""
    qc = fields.mapping(where, "quantization_config", qc, optional=False)
    method = qc.get("quant_method")
    if not isinstance(method, str):
        raise SpecError(where, "quantization_config.quant_method", f"expected a format name, got {fields.show(method)}")
    if method in REFUSED:
        raise SpecError(where, "quantization_config.quant_method", f"{REFUSED[method]} is not modelled")
    if method not in READERS:
        raise SpecError(where, "quantization_config.quant_method",
                        f"{fields.show(method)} is not a format rooflint reads ({', '.join(READERS)})")
    reader, key = READERS[method]
    fmt = reader(where, qc)
    inner = qc.get("quantization") if method == "modelopt" and isinstance(qc.get("quantization"), dict) else qc
    patterns = _patterns(where, inner, key)
    for i, p in enumerate(patterns):
        if p.startswith("re:"):
            try:
                re.compile(p[3:])
            except re.error as exc:
                raise SpecError(where, f"quantization_config.{key}[{i}]", f"not a regular expression: {exc}") from None
    exact = method == "compressed-tensors"
    formats, notes = [], []
    for cls in WEIGHT_CLASSES:
        held = layers.get(cls, ())
        if not held:
            continue
        # per layer, per module: does the list leave it unquantized?
        hits = [[any(matches(p, n, exact) for p in patterns for n in names) for names in spellings(i, cls)]
                for i in held]
        if cls == "lm_head":
            quantized = (method in ("compressed-tensors", "modelopt") or (method == "gptq" and qc.get("lm_head") is True))
            if quantized and not any(hits[0]):  # compressed-tensors targets Linear: an lm_head is one
                formats.append((cls, fmt))
            continue
        whole = [all(h) for h in hits]
        partial = [i for i, h in zip(held, hits) if any(h) and not all(h)]
        mixed = [i for i, h in zip(held, whole) if h] if any(whole) and not all(whole) else []
        if partial or mixed:  # rooflint sizes a class in one format: say which part the list leaves out
            what = (f"some of the {cls} modules of layer {partial[0]}" if partial else
                    f"{cls} of layers {', '.join(map(str, mixed[:4]))}{'...' if len(mixed) > 4 else ''}")
            raise SpecError(where, f"quantization_config.{key}", f"leaves {what} unquantized and quantizes the "
                            "others; rooflint sizes a class of weights in one format (use --weight-dtype to size "
                            "one format)")
        if all(whole):
            notes.append(f"{cls} not converted ({key})")
        else:
            formats.append((cls, fmt))
    return Quantization(method, tuple(formats), patterns, tuple(notes), _kv_dtype(where, qc, inner))


def _kv_dtype(where: str, qc: Mapping[str, Any], inner: Mapping[str, Any]) -> str | None:
    """An fp8 KV cache the checkpoint was calibrated for (ModelOpt kv_cache_quant_algo,
    compressed-tensors kv_cache_scheme); None: the activations' type."""
    algo = inner.get("kv_cache_quant_algo", qc.get("kv_cache_quant_algo"))
    if algo is not None:
        if str(algo).upper() != "FP8":
            raise SpecError(where, "quantization_config.kv_cache_quant_algo", f"{fields.show(algo)} is not modelled (FP8)")
        return "fp8"
    scheme = qc.get("kv_cache_scheme")
    if scheme is None:
        return None
    if not isinstance(scheme, dict) or scheme.get("num_bits") != 8:
        raise SpecError(where, "quantization_config.kv_cache_scheme", "expected an 8-bit scheme "
                        f"(num_bits 8, type float or int), got {fields.show(scheme)}")
    return "fp8" if scheme.get("type", "float") == "float" else "int8"


def override(dt: DType, group_size: int | None) -> WeightFormat:
    """A command-line --weight-dtype: every linear class in one format, weight-only."""
    scale = f", {dt.scale_bytes:g} B scale per {group_size}" if group_size else ""
    return WeightFormat(dt.name, group_size, False, None, f"{dt.name}{scale}")
