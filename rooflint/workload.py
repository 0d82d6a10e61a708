"""What a user asks rooflint to size, and the one place where its defaults are decided.

A `Workload` holds what was asked (None: "the default"); `resolve(model, hardware, workload)`
applies every default and derived rule and returns a `Resolved` that the analysis reads and
never second-guesses. Every command and the library go through it, so they share one default
GPU, one default attention kernel, one prompt rule, one notion of bytes per element:

- prompt: --prompt, else the context less the prefix, else min(4096, max_position_embeddings);
  context: --context, else prefix + prompt (the first decode step after the prompt).
- dtypes: activations fp16; weights and KV cache default to the activation type. Integer
  types carry one fp16 scale per group (KV int8/int4: 64 elements, KIVI-style; weights int4:
  128, GPTQ/AWQ), so a KV int4 element is 0.5 + 2/64 B.
- which weights a weight dtype applies to: the decoder's linear layers ("linear"); the
  embedding, the lm_head, MoE routers and norms stay 16-bit as quantized checkpoints keep them
  ("all" quantizes them too).
- hardware facts a profile lacks: 108 SMs and 164 KiB of shared memory per SM (an A100).
- the longest sequence a contiguous cache reserves (max_len): the model's max_position_embeddings,
  else 4096.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rooflint.dtypes import DTYPES, DType, default_group_size, element_bytes
from rooflint.dtypes import dtype as lookup
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.specs.catalog import load_engine, load_hardware
from rooflint.specs.engine import Engine
from rooflint.specs.quantization import WEIGHT_CLASSES, WeightFormat, override
from rooflint.units import MAX_COUNT

DEFAULT_GPU = "h100"
DEFAULT_ATTENTION = "flash"
DEFAULT_DTYPE = "fp16"
DEFAULT_BATCH = 1
DEFAULT_PROMPT = 4096
DEFAULT_NEW_TOKENS = 512
DEFAULT_MLA_MODE = "absorbed"
DEFAULT_MEMORY_UTILIZATION = 0.9  # vLLM's gpu_memory_utilization
DEFAULT_CHUNK = 2048  # prefill chunk: sizes the activation workspace and plan's chunked prefill
FALLBACK_SM_COUNT = 108  # an A100's, when a profile gives none
FALLBACK_SRAM_PER_SM_BYTES = 164 * 1024  # an A100 SM's shared memory, likewise
ATTENTIONS = ("eager", "flash")
MLA_MODES = ("absorbed", "naive", "expand")
QUANTIZE_SCOPES = ("linear", "all")
# the class whose format names a checkpoint's weights (Resolved.weight): most of a MoE's weights
# are its routed experts', most of a dense model's its MLP's
MAIN_CLASS_ORDER = ("experts", "mlp", "shared_experts", "attention", "lm_head")
MAX_TILE = 2**16  # rows of a flash-attention tile; real kernels use 16..256


@dataclass(frozen=True, slots=True)
class Workload:
    """A request shape and how it is run; None means "rooflint's default" (see resolve)."""

    batch: int | None = None  # sequences
    prompt: int | None = None  # new prompt tokens per sequence
    context: int | None = None  # tokens a decode step attends over
    prefix: int = 0  # tokens already cached before the prompt (prefix cache, chunked prefill)
    new_tokens: int | None = None  # tokens generated per sequence (generate)
    dtype: str | DType | None = None  # activations
    weight_dtype: str | DType | None = None
    kv_dtype: str | DType | None = None
    weight_group_size: int | None = None  # elements per fp16 scale of integer weights
    kv_group_size: int | None = None  # likewise for the KV cache
    quantize: str = "linear"  # which weights weight_dtype applies to: linear | all
    attention: str | None = None  # eager | flash
    mla_mode: str | None = None  # absorbed | naive (MLA models)
    flash_tile: tuple[int, int] | None = None  # (B_r, B_c); default sized from the SRAM
    all_logits: bool = False  # lm_head on every prefill position, not just the last
    causal: bool = True
    memory_utilization: float | None = None  # share of the memory a plan may use
    chunk: int | None = None  # prefill chunk (activation workspace, chunked prefill)
    max_len: int | None = None  # the longest sequence served (what a contiguous KV cache reserves)
    engine: str | Engine | None = None  # the engine the forecast assumes (engines/*.yaml)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Resolved:
    """A workload with every default applied, for one model on one GPU."""

    model: Model
    hardware: Hardware | None  # None for the figures that need no GPU (kv, paged)
    workload: Workload
    batch: int
    prompt: int
    context: int
    prefix: int
    new_tokens: int
    act: DType
    weight: DType
    kv: DType
    high: DType  # weights the weight dtype does not apply to
    weight_group_size: int | None
    kv_group_size: int | None
    b_a: float  # bytes per activation element
    b_w: float  # bytes per quantized weight element, scales included
    b_h: float  # bytes per weight element left unquantized
    b_kv: float  # bytes per KV element, scales included
    quantize: str
    attention: str
    mla_mode: str
    flash_tile: tuple[int, int] | None
    all_logits: bool
    causal: bool
    sm_count: int
    sram_per_sm_bytes: float
    memory_utilization: float
    chunk: int
    max_len: int
    defaults: tuple[str, ...] = ()  # what came from a default or a fallback, for --explain
    notes: tuple[str, ...] = ()
    structure: tuple = field(default=(), compare=False)  # the choices that shape the op list
    # Per weight class (specs/quantization.WEIGHT_CLASSES): its format (None: 16-bit), bytes per
    # element with scales, and the peak its GEMMs run at (fp8 W8A8 at the fp8 peak, weight-only at the activations').
    formats: tuple[tuple[str, WeightFormat | None], ...] = ()
    class_bytes: tuple[tuple[str, float], ...] = ()
    class_peaks: tuple[tuple[str, str], ...] = ()
    engine: Engine | None = None  # the forecast's engine preset

    @property
    def prefill_kv_len(self) -> int:
        return self.prefix + self.prompt


def target_gpu(gpu: Hardware | str | None = None) -> Hardware:
    """The GPU a workload runs on: a spec as given, a built-in name or hardware file, else DEFAULT_GPU."""
    return gpu if isinstance(gpu, Hardware) else load_hardware(gpu or DEFAULT_GPU)


def _whole(value, option: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        what = "a positive whole number" if low == 1 else f"a whole number >= {low}"
        raise SpecError(option, None, f"expected {what} (at most 2**53), got {value!r}")
    return value


def _dtype(value, option: str) -> DType:
    return value if isinstance(value, DType) else lookup(str(value), option)


def _choice(value, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise SpecError(option, None, f"expected {' or '.join(allowed)}, got {value!r}")
    return value


def kernel_facts(hardware: Hardware | None) -> tuple[int, float, tuple[str, ...]]:
    """(SM count, shared memory per SM, what was assumed): the profile's, else an A100's."""
    sm = (hardware and hardware.sm_count) or FALLBACK_SM_COUNT
    sram = (hardware and hardware.sram_per_sm_bytes) or FALLBACK_SRAM_PER_SM_BYTES
    assumed = []
    if hardware is not None and not hardware.sm_count:
        assumed.append(f"sm_count: {hardware.name} gives none; {FALLBACK_SM_COUNT} assumed (an A100)")
    if hardware is not None and not hardware.sram_per_sm_bytes:
        assumed.append(f"sram_per_sm: {hardware.name} gives none; {FALLBACK_SRAM_PER_SM_BYTES // 1024} KiB assumed")
    return sm, sram, tuple(assumed)


def resolve(model: Model, hardware: Hardware | None = None, workload: Workload | None = None) -> Resolved:
    """Every default and derived rule, applied once (module docstring)."""
    w = workload or Workload()
    defaults: list[str] = []
    notes: list[str] = []
    prefix = _whole(w.prefix, "--prefix", 0)
    limit = model.max_position_embeddings
    if w.prompt is not None:
        prompt = _whole(w.prompt, "--prompt")
    elif w.context is not None:
        prompt = _whole(w.context, "--context") - prefix
        if prompt < 1:
            raise SpecError("--context", None, f"{w.context} tokens leave no prompt after a prefix of {prefix}")
        defaults.append(f"prompt = context - prefix = {prompt}")
    else:
        prompt = min(DEFAULT_PROMPT, limit or DEFAULT_PROMPT)
        defaults.append(f"prompt = min({DEFAULT_PROMPT}, max_position_embeddings {limit}) = {prompt}"
                        if limit else f"prompt = {DEFAULT_PROMPT}")
    if w.context is not None:
        context = _whole(w.context, "--context")
    else:
        context = prefix + prompt
    batch = DEFAULT_BATCH if w.batch is None else _whole(w.batch, "--batch")
    new_tokens = DEFAULT_NEW_TOKENS if w.new_tokens is None else _whole(w.new_tokens, "--new-tokens")

    act = _dtype(w.dtype or DEFAULT_DTYPE, "--dtype")
    weight = act if w.weight_dtype is None else _dtype(w.weight_dtype, "--weight-dtype")
    checkpoint_kv = model.quantization.kv_dtype if model.quantization is not None else None
    if w.kv_dtype is not None:
        kv = _dtype(w.kv_dtype, "--kv-dtype")
    elif checkpoint_kv is not None:
        kv = lookup(checkpoint_kv)
        notes.append(f"KV cache {checkpoint_kv}, as the checkpoint's quantization_config calibrates it "
                     "(--kv-dtype overrides)")
    else:
        kv = act
    if hardware is not None:
        hardware.peak(act.peak_key)  # a chip without a unit for this type is refused here, by name
    quantize = _choice(w.quantize, QUANTIZE_SCOPES, "--quantize")
    wg = default_group_size(weight, "weight") if w.weight_group_size is None else _whole(w.weight_group_size, "--weight-group-size")
    kg = default_group_size(kv, "kv") if w.kv_group_size is None else _whole(w.kv_group_size, "--kv-group-size")
    for dt, group, option in ((weight, wg, "--weight-group-size"), (kv, kg, "--kv-group-size")):
        if dt.fixed_group and group != default_group_size(dt, "weight"):
            raise SpecError(option, None, f"{dt.name} scales groups of {default_group_size(dt, 'weight')} elements "
                            f"by definition, not {group}")
    b_w, b_kv = element_bytes(weight, wg), element_bytes(kv, kg)
    if quantize == "all" or weight.bits >= 16:  # a 16/32-bit weight type is storage, for every weight
        high = weight
    else:  # what a quantized checkpoint keeps unquantized is 16-bit (or the activations' wider type)
        high = act if act.bits >= 16 else lookup("fp16")
    b_h = b_w if high.name == weight.name else high.bytes
    if high.name != weight.name:
        notes.append(f"{weight.name} applies to the decoder's linear layers; the embedding, lm_head, routers "
                     f"and norms stay {high.name} (--quantize all for every weight)")

    formats, class_bytes, class_peaks = _weight_classes(model, hardware, w, weight, wg, act, b_h, notes)
    if w.weight_dtype is None and model.quantization is not None:
        held = dict(formats)
        main = next((c for c in MAIN_CLASS_ORDER if held.get(c) is not None), None)
        if main is not None:
            weight, b_w = DTYPES[dict(formats)[main].dtype], dict(class_bytes)[main]
            wg = dict(formats)[main].group_size

    attention = _choice(w.attention or DEFAULT_ATTENTION, ATTENTIONS, "--attention")
    mla_mode = _choice(w.mla_mode or DEFAULT_MLA_MODE, MLA_MODES, "--mla-mode")
    tile = None
    if w.flash_tile is not None:
        if len(w.flash_tile) != 2 or any(isinstance(t, bool) or not isinstance(t, int) or not 0 < t <= MAX_TILE
                                         for t in w.flash_tile):
            raise SpecError("--flash-tile", None, f"expected two sizes B_r,B_c from 1 to {MAX_TILE}, got {w.flash_tile}")
        tile = (int(w.flash_tile[0]), int(w.flash_tile[1]))
    sm, sram, assumed = kernel_facts(hardware)
    if attention == "flash":
        defaults += [a for a in assumed if tile is None or a.startswith("sm_count")]
    util = DEFAULT_MEMORY_UTILIZATION if w.memory_utilization is None else w.memory_utilization
    if isinstance(util, bool) or not isinstance(util, (int, float)) or not 0 < util <= 1:
        raise SpecError("--mem-util", None, f"expected a fraction in (0, 1], got {util!r}")
    chunk = DEFAULT_CHUNK if w.chunk is None else _whole(w.chunk, "--chunk")
    if w.max_len is not None:
        max_len = _whole(w.max_len, "--max-len")
    else:
        max_len = limit or DEFAULT_PROMPT
        defaults.append(f"max_len = max_position_embeddings {limit}" if limit else f"max_len = {DEFAULT_PROMPT}")

    longest = max(prefix + prompt, context)
    if limit and longest > limit:
        notes.append(f"{longest} tokens exceed {model.name}'s max_position_embeddings ({limit})")
    if model.sliding_window and context > model.sliding_window:
        notes.append(f"sliding window {model.sliding_window}: sliding layers cache {model.sliding_window} "
                     "tokens per sequence")
    structure = (attention, mla_mode if model.is_mla else "", act.name, weight.name, b_w, b_h, kv.name, b_kv,
                 tile, sm if attention == "flash" else 0, sram if attention == "flash" and tile is None else 0,
                 w.causal, w.all_logits, class_bytes, class_peaks)
    engine = w.engine if isinstance(w.engine, Engine) else load_engine(w.engine)
    if w.engine is None:
        defaults.append(f"engine = {engine.name} (the forecast's default)")
    return Resolved(model, hardware, w, batch, prompt, context, prefix, new_tokens, act, weight, kv, high, wg, kg,
                    act.bytes, b_w, b_h, b_kv, quantize, attention, mla_mode, tile, w.all_logits, w.causal, sm,
                    sram, float(util), chunk, max_len, tuple(defaults), tuple(notes), structure,
                    formats, class_bytes, class_peaks, engine)


def _weight_classes(model: Model, hardware: Hardware | None, w: Workload, weight: DType, wg: int | None, act: DType,
                    b_h: float, notes: list[str]):
    """Each weight class's format, bytes per element and GEMM peak: a --weight-dtype for every
    linear class, else the checkpoint's formats (a class it leaves out stays 16-bit), else the
    activations' type."""
    q = model.quantization
    formats: dict[str, WeightFormat | None] = {}
    for c in WEIGHT_CLASSES:
        # --weight-dtype, or (no checkpoint formats) --dtype when it is not 16-bit: `--dtype fp8`
        # stores the linear layers in fp8 as it says, not at 16 bits
        if w.weight_dtype is not None or (q is None and weight.bits < 16):
            formats[c] = None if c == "lm_head" else override(weight, wg)
        elif q is not None:
            formats[c] = q.format(c)
        else:
            formats[c] = None
    if w.weight_dtype is None and q is not None and w.weight_group_size is not None:
        formats = {c: _regrouped(f, w.weight_group_size) for c, f in formats.items()}
        if not any(f is not None and f.dtype in ("int4", "int8") for f in formats.values()):
            notes.append(f"--weight-group-size {w.weight_group_size}: the checkpoint's {q.method} weights keep "
                         "their own scales (it regroups integer formats)")
    sizes, peaks, dequantized = {}, {}, []
    for c, f in formats.items():
        sizes[c] = b_h if f is None else f.bytes_per_element  # a class left out stays 16-bit (b_h)
        peaks[c] = act.peak_key
        if f is not None and f.activations is not None:
            key = DTYPES[f.activations].peak_key
            if hardware is None or key in hardware.peak_flop_per_s:
                peaks[c] = key
            else:
                dequantized.append(c)
    if dequantized:
        f = formats[dequantized[0]]
        notes.append(f"{hardware.name} has no {DTYPES[f.activations].peak_key} peak: the {f.dtype} GEMMs of "
                     f"{', '.join(dequantized)} are held to the {act.peak_key} peak (weights dequantized)")
    if w.weight_dtype is None and q is not None:
        notes.append(f"weights from the checkpoint's quantization_config ({q.method}); --weight-dtype overrides it")
    return (tuple(formats.items()), tuple(sizes.items()), tuple(peaks.items()))


def _regrouped(f: WeightFormat | None, group: int) -> WeightFormat | None:
    """--weight-group-size on a checkpoint: regroups an integer format (float formats keep theirs)."""
    if f is None or f.dtype not in ("int4", "int8"):
        return f
    return replace(f, group_size=group, label=f"{f.dtype}, fp16 scale{' + int zero' if f.zero_point else ''} "
                                             f"per {group} (--weight-group-size)")
