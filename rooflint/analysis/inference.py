"""Whole-model analysis of prefill and one decode step: ops on the roofline, totals, memory."""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.attention import scores_bytes_per_layer
from rooflint.analysis.kv_cache import kv_bytes, kv_bytes_per_token
from rooflint.analysis.params import parameter_breakdown
from rooflint.analysis.roofline import Timed, place
from rooflint.analysis.transformer import OpOptions, Pass, decode_pass, forward_ops, prefill_pass
from rooflint.dtypes import DType
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model


@dataclass(frozen=True, slots=True)
class Settings:
    batch: int = 1
    prompt: int = 4096
    context: int | None = None  # decode attends over this many tokens; default = prompt
    dtype: DType | None = None  # activations (and weights unless weight_dtype is given)
    kv_dtype: DType | None = None  # default = dtype
    weight_dtype: DType | None = None  # default = dtype
    kv_group_size: int | None = -1  # elements per quantization scale; -1 = the dtype's default
    weight_group_size: int | None = -1
    attention: str = "eager"  # eager | flash
    mla_mode: str = "absorbed"  # absorbed | naive
    flash_tile: tuple[int, int] | None = None  # (B_r, B_c); default sized from the SRAM
    all_logits: bool = False  # lm_head on every prefill position, not just the last
    prefix: int = 0  # tokens already cached before the prompt (prefix cache, chunked prefill)

    def __post_init__(self) -> None:
        for name in ("batch", "prompt", "context"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise SpecError(f"--{name}", None, f"expected a positive integer, got {value!r}")
        if self.attention not in ("eager", "flash"):
            raise SpecError("--attention", None, f"expected eager or flash, got {self.attention!r}")
        if self.mla_mode not in ("absorbed", "naive"):
            raise SpecError("--mla-mode", None, f"expected absorbed or naive, got {self.mla_mode!r}")
        for name in ("kv_group_size", "weight_group_size"):
            value = getattr(self, name)
            if value is not None and value != -1 and value <= 0:
                raise SpecError(f"--{name.replace('_', '-')}", None, f"expected a positive group size, got {value}")
        if self.flash_tile is not None and (len(self.flash_tile) != 2 or min(self.flash_tile) <= 0):
            raise SpecError("--flash-tile", None, f"expected two positive sizes B_r,B_c, got {self.flash_tile}")
        if self.prefix < 0:
            raise SpecError("--prefix", None, f"expected 0 or more cached tokens, got {self.prefix}")

    @property
    def decode_context(self) -> int:
        return self.context if self.context is not None else self.prefix + self.prompt


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    pass_: Pass
    ops: tuple[Timed, ...]

    @property
    def flops(self) -> float:
        return sum(t.op.count * t.op.flops for t in self.ops)

    @property
    def bytes(self) -> float:
        return sum(t.op.count * t.op.bytes for t in self.ops)

    @property
    def bytes_read(self) -> float:
        return sum(t.op.count * t.op.bytes_read for t in self.ops)

    @property
    def bytes_written(self) -> float:
        return sum(t.op.count * t.op.bytes_written for t in self.ops)

    @property
    def time_s(self) -> float:
        """Sum of the ops' roofline times (each op bound on its own, kernels run one by one)."""
        return sum(t.op.count * t.time_s for t in self.ops)

    @property
    def tokens(self) -> int:
        """Tokens this pass produces: one per sequence."""
        return self.pass_.batch

    def time_by_bound(self, bound: str) -> float:
        return sum(t.op.count * t.time_s for t in self.ops if t.bound == bound)


@dataclass(frozen=True, slots=True)
class Analysis:
    model: Model
    hardware: Hardware
    settings: Settings
    dtype: DType
    kv_dtype: DType
    weight_dtype: DType
    weight_bytes_per_element: float
    kv_bytes_per_element: float
    params: dict[str, int]
    prefill: PhaseResult
    decode: PhaseResult
    notes: tuple[str, ...]

    @property
    def param_count(self) -> int:
        return sum(self.params.values())

    @property
    def weights_bytes(self) -> float:
        return self.param_count * self.weight_bytes_per_element

    @property
    def kv_bytes_per_token(self) -> float:
        return kv_bytes_per_token(self.model, self.kv_bytes_per_element, self.settings.mla_mode)

    @property
    def kv_bytes_per_sequence(self) -> float:
        return kv_bytes(self.model, self.kv_bytes_per_element, self.settings.decode_context,
                        mla_mode=self.settings.mla_mode)

    @property
    def kv_bytes(self) -> float:
        return kv_bytes(self.model, self.kv_bytes_per_element, self.settings.decode_context, self.settings.batch,
                        self.settings.mla_mode)

    @property
    def scores_bytes_per_layer(self) -> float:
        """S + P of one layer's eager prefill attention (all heads, whole batch)."""
        s = self.settings
        if s.attention == "flash":
            return 0.0
        return scores_bytes_per_layer(s.batch, self.model.num_attention_heads, s.prompt, s.prefix + s.prompt,
                                      self.dtype.bytes)

    @property
    def active_param_count(self) -> int:
        from rooflint.analysis.params import active_parameter_count

        return active_parameter_count(self.model)

    @property
    def ttft_s(self) -> float:
        return self.prefill.time_s

    @property
    def tpot_s(self) -> float:
        return self.decode.time_s

    @property
    def decode_tokens_per_s(self) -> float:
        return self.settings.batch / self.decode.time_s

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.settings.batch * self.settings.prompt / self.prefill.time_s


def resolve_precision(settings: Settings) -> tuple[DType, DType, DType, float, float]:
    """(activation, weight, kv dtypes, weight bytes and KV bytes per element incl. scales)."""
    from rooflint.dtypes import default_group_size, dtype as lookup, element_bytes

    act = settings.dtype or lookup("fp16")
    weight = settings.weight_dtype or act
    kv = settings.kv_dtype or act
    wg = default_group_size(weight, "weight") if settings.weight_group_size == -1 else settings.weight_group_size
    kg = default_group_size(kv, "kv") if settings.kv_group_size == -1 else settings.kv_group_size
    return act, weight, kv, element_bytes(weight, wg), element_bytes(kv, kg)


def op_options(settings: Settings, hardware: Hardware) -> OpOptions:
    from rooflint.analysis.flash import DEFAULT_SRAM_BYTES, Tiles

    _, _, _, b_w, b_kv = resolve_precision(settings)
    return OpOptions(attention=settings.attention, mla_mode=settings.mla_mode, weight_bytes=b_w, kv_bytes=b_kv,
                     sram_bytes=hardware.sram_per_sm_bytes or DEFAULT_SRAM_BYTES,
                     tile=Tiles(*settings.flash_tile) if settings.flash_tile else None,
                     sm_count=hardware.sm_count or 108)


def analyze(model: Model, hardware: Hardware, settings: Settings | None = None) -> Analysis:
    """Prefill of `prompt` tokens and one decode step at `context`, for `batch` sequences."""
    settings = settings or Settings()
    dt, weight, kv, b_w, b_kv = resolve_precision(settings)
    hardware.peak(dt.peak_key)  # a clear error now if the chip has no unit for this dtype
    opts = op_options(settings, hardware)
    notes = []
    limit = model.max_position_embeddings
    longest = max(settings.prefix + settings.prompt, settings.decode_context)
    if limit and longest > limit:
        notes.append(f"{longest} tokens exceed {model.name}'s max_position_embeddings ({limit})")
    if model.sliding_window and settings.decode_context > model.sliding_window:
        notes.append(f"sliding window {model.sliding_window}: sliding layers cache "
                     f"{model.sliding_window} tokens per sequence")

    def run(p: Pass) -> PhaseResult:
        ops = forward_ops(model, p, act=dt, weight=weight, kv=kv, opts=opts)
        return PhaseResult(p.phase, p, tuple(place(op, hardware) for op in ops))

    return Analysis(
        model=model, hardware=hardware, settings=settings, dtype=dt, kv_dtype=kv,
        weight_dtype=weight, weight_bytes_per_element=b_w, kv_bytes_per_element=b_kv,
        params=parameter_breakdown(model),
        prefill=run(prefill_pass(settings.batch, settings.prompt, settings.all_logits, settings.prefix)),
        decode=run(decode_pass(settings.batch, settings.decode_context)),
        notes=tuple(notes),
    )
