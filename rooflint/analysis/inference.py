"""Whole-model analysis of prefill and one decode step: ops on the roofline, totals, memory."""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.attention import scores_bytes_per_layer
from rooflint.analysis.kv_cache import cached_tokens, kv_bytes, kv_bytes_per_token
from rooflint.analysis.params import parameter_breakdown
from rooflint.analysis.roofline import Timed, place
from rooflint.analysis.transformer import Pass, decode_pass, forward_ops, prefill_pass
from rooflint.dtypes import DType
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model


@dataclass(frozen=True, slots=True)
class Settings:
    batch: int = 1
    prompt: int = 4096
    context: int | None = None  # decode attends over this many tokens; default = prompt
    dtype: DType | None = None  # weights and activations
    kv_dtype: DType | None = None  # default = dtype
    all_logits: bool = False  # lm_head on every prefill position, not just the last

    def __post_init__(self) -> None:
        for name in ("batch", "prompt", "context"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise SpecError(f"--{name}", None, f"expected a positive integer, got {value!r}")

    @property
    def decode_context(self) -> int:
        return self.context if self.context is not None else self.prompt


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
    params: dict[str, int]
    prefill: PhaseResult
    decode: PhaseResult
    notes: tuple[str, ...]

    @property
    def param_count(self) -> int:
        return sum(self.params.values())

    @property
    def weights_bytes(self) -> float:
        return self.param_count * self.dtype.bytes

    @property
    def kv_bytes_per_token(self) -> float:
        return kv_bytes_per_token(self.model, self.kv_dtype.bytes)

    @property
    def kv_bytes_per_sequence(self) -> float:
        return kv_bytes(self.model, self.kv_dtype.bytes, self.settings.decode_context)

    @property
    def kv_bytes(self) -> float:
        return kv_bytes(self.model, self.kv_dtype.bytes, self.settings.decode_context, self.settings.batch)

    @property
    def scores_bytes_per_layer(self) -> float:
        """S + P of one layer's eager prefill attention (all heads, whole batch)."""
        s = self.settings
        return scores_bytes_per_layer(s.batch, self.model.num_attention_heads, s.prompt, s.prompt, self.dtype.bytes)

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


def analyze(model: Model, hardware: Hardware, settings: Settings | None = None) -> Analysis:
    """Prefill of `prompt` tokens and one decode step at `context`, for `batch` sequences."""
    from rooflint.dtypes import dtype as lookup

    settings = settings or Settings()
    dt = settings.dtype or lookup("fp16")
    kv = settings.kv_dtype or dt
    hardware.peak(dt.peak_key)  # a clear error now if the chip has no unit for this dtype
    notes = []
    limit = model.max_position_embeddings
    longest = max(settings.prompt, settings.decode_context)
    if limit and longest > limit:
        notes.append(f"{longest} tokens exceed {model.name}'s max_position_embeddings ({limit})")
    if model.sliding_window and settings.decode_context > model.sliding_window:
        notes.append(f"sliding window {model.sliding_window}: the cache holds "
                     f"{cached_tokens(model, settings.decode_context)} tokens per sequence")

    def run(p: Pass) -> PhaseResult:
        ops = forward_ops(model, p, act=dt, weight=dt, kv=kv)
        return PhaseResult(p.phase, p, tuple(place(op, hardware) for op in ops))

    return Analysis(
        model=model, hardware=hardware, settings=settings, dtype=dt, kv_dtype=kv,
        params=parameter_breakdown(model),
        prefill=run(prefill_pass(settings.batch, settings.prompt, settings.all_logits)),
        decode=run(decode_pass(settings.batch, settings.decode_context)),
        notes=tuple(notes),
    )
