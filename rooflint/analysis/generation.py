"""A whole request — a prompt of P tokens and T new ones, for B sequences — with and without a
KV cache, its FLOPs, bytes and roofline time summed exactly (seed 001).

With a cache: one prefill over the P prompt tokens (its last position gives the first new token),
then decode steps i = 1..T-1, step i attending over C = P + i tokens.
Without a cache: new token i (i = 0..T-1) comes from a full forward pass over the N = P + i tokens
so far, logits for the last position only; i = 0 is the same pass as the prefill.

Each op's own expressions are summed over the steps in closed form (`series`), whatever T is;
the forecasts pass by pass (`stepped`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooflint.analysis.expr import Sym, sym
from rooflint.analysis.inference import Analysis, PhaseResult, analyze, model_form
from rooflint.analysis.series import FIELDS, StepSum, sum_ops
from rooflint.analysis.stepped import ForecastSum, forecast_sum
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Resolved, Workload, resolve, target_gpu

DECODE, RECOMPUTE = "decode", "recompute"


@dataclass(frozen=True, slots=True)
class Generation:
    resolved: Resolved
    prefill: PhaseResult  # the pass over P that gives the first token (shared by both ways)
    decode: StepSum  # with a cache: steps i = 1..T-1 at C = P + i
    recompute: StepSum  # without: passes i = 0..T-1 over N = P + i tokens
    steps: dict[int, tuple[PhaseResult, PhaseResult]]  # i -> (cached step, uncached pass) at i = 0, 1, T-1
    end: Analysis  # analysis at the last decode context, for the final KV cache
    notes: tuple[str, ...]
    ttft_forecast_s: float  # the prefill's forecast (a pass with the engine's step overhead)
    decode_forecast: ForecastSum  # the decode steps' forecasts
    recompute_forecast: ForecastSum  # the full passes' forecasts

    model = property(lambda self: self.resolved.model)
    hardware = property(lambda self: self.resolved.hardware)
    prompt = property(lambda self: self.resolved.prompt)
    batch = property(lambda self: self.resolved.batch)
    new_tokens = property(lambda self: self.resolved.new_tokens)
    ttft_s = property(lambda self: self.prefill.time_s)

    @property
    def terms(self) -> dict[str, Term]:
        """The request's figures from the prefill and the op sums (each a term of its own)."""
        values = {"prefill_flops": self.prefill.flops, "prefill_bytes": self.prefill.bytes,
                  "ttft_s": self.prefill.time_s, "B": self.batch, "T": self.new_tokens,
                  "ttft_forecast_s": self.ttft_forecast_s, "decode_forecast_s": self.decode_forecast.total_s,
                  "recompute_forecast_s": self.recompute_forecast.total_s}
        for s in (self.decode, self.recompute):
            for k, _ in FIELDS:
                values[f"{s.name}_{k}"] = sum(getattr(o, k) for o in s.ops)
        figs = [figure("with_cache.flops", sym("prefill_flops") + sym("decode_flops"), "flops"),
                figure("with_cache.bytes", sym("prefill_bytes") + sym("decode_bytes_read") + sym("decode_bytes_written"),
                       "bytes"),
                figure("with_cache.time_s", sym("ttft_s") + sym("decode_time_s"), "seconds", "TTFT + the decode steps"),
                figure("with_cache.tokens_per_s", sym("B") * sym("T") / sym("time_s"), "per_second"),
                figure("with_cache.time_forecast_s", sym("ttft_forecast_s") + sym("decode_forecast_s"), "seconds",
                       "the prefill's forecast + the decode steps' (each step a pass with the engine's overhead)"),
                figure("without_cache.flops", sym("recompute_flops"), "flops"),
                figure("without_cache.bytes", sym("recompute_bytes_read") + sym("recompute_bytes_written"), "bytes"),
                figure("without_cache.time_s", sym("recompute_time_s"), "seconds", "the full passes"),
                figure("without_cache.tokens_per_s", sym("B") * sym("T") / sym("time_s"), "per_second"),
                figure("without_cache.time_forecast_s", sym("recompute_forecast_s"), "seconds",
                       "the full passes' forecasts")]
        out: dict[str, Term] = {}
        for group in (figs[:5], figs[5:]):
            for t in evaluate_figures(group, values):
                out[t.key] = t
        return out

    @property
    def cached_flops(self) -> float:
        return self.prefill.flops + self.decode.flops

    @property
    def cached_bytes(self) -> float:
        return self.prefill.bytes + self.decode.bytes

    @property
    def cached_bytes_read(self) -> float:
        return self.prefill.bytes_read + self.decode.bytes_read

    @property
    def cached_bytes_written(self) -> float:
        return self.prefill.bytes_written + self.decode.bytes_written

    @property
    def cached_time_s(self) -> float:
        """End-to-end latency: TTFT + the sum of the decode steps."""
        return self.prefill.time_s + self.decode.time_s

    uncached_flops = property(lambda self: self.recompute.flops)
    uncached_bytes = property(lambda self: self.recompute.bytes)
    uncached_time_s = property(lambda self: self.recompute.time_s)

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def cached_tokens_per_s(self) -> float:
        return self.tokens / self.cached_time_s

    @property
    def uncached_tokens_per_s(self) -> float:
        return self.tokens / self.uncached_time_s

    @property
    def kv_context_end(self) -> int:
        """Tokens whose K/V are cached at the end: P + T - 1 (the last new token's are never computed)."""
        return self.prompt + self.new_tokens - 1

    @property
    def kv_bytes_end(self) -> float:
        return self.end.kv_bytes

    def step_growth(self, which: str) -> float | None:
        """FLOPs of the step at i = T-1 over those at i = 1 ('decode' or 'recompute'); None if T < 3."""
        if self.new_tokens < 3:
            return None
        k = 0 if which == DECODE else 1
        return self.steps[self.new_tokens - 1][k].flops / self.steps[1][k].flops


def generation(model: Model, hardware: Hardware | str | None = None, workload: Workload | None = None) -> Generation:
    """A request of the workload's prompt and new tokens for its batch, with and without a KV cache.
    Logits are computed for the last position only."""
    w = replace(workload or Workload(), all_logits=False, context=None)
    if w.prefix:
        raise SpecError("--prefix", None, "a generated request starts from an empty cache; got a cached prefix "
                        f"of {w.prefix} tokens")
    hardware = target_gpu(hardware)
    r = resolve(model, hardware, w)
    P, T, B = r.prompt, r.new_tokens, r.batch
    form = model_form(model, r)
    decode = sum_ops(form.decode, hardware, B, DECODE, "C", P + 1, P + T - 1, {}, "with_cache.decode")
    recompute = sum_ops(form.prefill, hardware, B, RECOMPUTE, "N", P, P + T - 1, {"S_q": Sym("N"), "C": Sym("N")},
                           "without_cache.recompute")
    first = analyze(model, hardware, r)

    def at(i: int) -> tuple[PhaseResult, PhaseResult]:
        if i == 0:
            return first.prefill, first.prefill
        cached = analyze(model, hardware, replace(w, context=P + i)).decode
        return cached, analyze(model, hardware, replace(w, prompt=P + i)).prefill

    steps = {i: at(i) for i in sorted({0, min(1, T - 1), T - 1})}
    end = analyze(model, hardware, replace(w, context=P + T - 1))
    step = r.engine.step_overhead_s
    decode_fc = forecast_sum(P + 1, P + T - 1, lambda c: analyze(model, hardware, replace(w, context=c)).decode, step)
    recompute_fc = forecast_sum(P, P + T - 1, lambda n: analyze(model, hardware, replace(w, prompt=n)).prefill, step)
    return Generation(r, first.prefill, decode, recompute, steps, end, tuple(_notes(r)), first.ttft_forecast_s,
                      decode_fc, recompute_fc)


def _notes(r: Resolved) -> list[str]:
    notes = list(r.notes)
    P, T, m = r.prompt, r.new_tokens, r.model
    if T == 1:
        notes.append("T = 1: the prefill gives the only new token; there is no decode step")
    limit = m.max_position_embeddings
    if limit and P + T - 1 > limit:
        notes.append(f"{P + T - 1} tokens exceed {m.name}'s max_position_embeddings ({limit})")
    w = m.sliding_window
    if w and P + T - 1 > w:
        notes.append(f"sliding window {w}: sliding layers attend over (and cache) at most {w} tokens per step")
    return list(dict.fromkeys(notes))


