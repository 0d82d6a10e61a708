"""Capacity planning: what fits on a GPU (or a tensor-parallel group) after the weights, and how
long the request takes.

Tensor parallelism over N GPUs (Megatron-style) splits the attention heads, the MLP width, the
experts' width and the vocabulary; KV heads are split too, or replicated when there are fewer
than N (each GPU then holds one). MLA's latent cache is shared by all heads, so each GPU holds
all of it. Each layer adds two all-reduces of the activations (after attention and after the
MLP), timed as a ring: 2 (N - 1) / N * bytes / link bandwidth.

Memory follows the one rule (memory.py) per GPU. The time to first token is the whole prompt
prefilled in chunks of `chunk` tokens (chunked prefill, as vLLM and TensorRT-LLM run long
prompts): chunk j sees the j*chunk tokens before it as a cached prefix; its ops are summed over
j exactly (series.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rooflint.analysis import kv_cache
from rooflint.analysis.expr import Sym, add, emax, floor, sym
from rooflint.analysis.inference import Analysis, analyze, decode_over, model_form
from rooflint.analysis.memo import per_object
from rooflint.analysis.series import StepSum, sum_ops
from rooflint.analysis.stepped import forecast_sum
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Resolved, Workload, resolve, target_gpu

N, L, T, D, b_a, link = sym("N L T D b_a link")
RING: object = 2 * L * 2 * (N - 1) / N * T * D * b_a / link
"""two ring all-reduces per layer of T token rows: 2 * L * 2(N-1)/N * T*D*b_a / link bandwidth."""
f_link, t_ar = sym("f_link t_ar")
RING_FORECAST: object = 2 * L * (t_ar + 2 * (N - 1) / N * T * D * b_a / (link * f_link))
"""the forecast of the same: each all-reduce's latency t_ar (the engine's kernel) plus its ring
traffic at the share f_link of the link that large all-reduces reach (hardware.achievable)."""


_SHARDS: dict = {}


def shard(m: Model, tp: int) -> Model:
    """The slice of a model one GPU of a tensor-parallel group of `tp` holds: the same object for
    the same (model, tp), so its compiled forms are reused (serve asks for it at every layout)."""
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise SpecError("--tp", None, f"expected 1 or more GPUs, got {tp}")
    if tp == 1:
        return m
    H, kv = m.num_attention_heads, m.num_key_value_heads
    if H % tp:
        raise SpecError("--tp", None, f"{tp} GPUs do not divide {m.name}'s {H} attention heads")
    if kv % tp and tp % kv:
        raise SpecError("--tp", None, f"{tp} GPUs neither divide nor are a multiple of {kv} KV heads")
    # split along heads and widths as vLLM does: the MLP widths, a shared expert's, and the
    # linear-attention layers' key and value heads (with their states)
    split = ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size",
             "linear_num_key_heads", "linear_num_value_heads")
    for name in split:
        width = getattr(m, name)
        if width is not None and width % tp:
            raise SpecError("--tp", None, f"{tp} GPUs do not divide {name} {width}")
    return per_object(_SHARDS, (m,), lambda: replace(
        m, num_attention_heads=H // tp, num_key_value_heads=max(1, kv // tp),
        **{name: getattr(m, name) // tp for name in split if getattr(m, name) is not None},
        vocab_size=math.ceil(m.vocab_size / tp), path=m.path, name=f"{m.name}/tp{tp}"), tp)


@dataclass(frozen=True, slots=True)
class Plan:
    model: Model  # the whole model
    shard: Model  # what one GPU holds
    tp: int
    resolved: Resolved  # the workload on one GPU
    at_batch: Analysis  # per GPU at the requested batch: memory terms, the decode step
    chunks: StepSum  # the prompt's full chunks, summed over the chunk index
    last_chunk: Analysis | None  # the prompt's last, shorter chunk (None when chunks divide it)
    terms: dict[str, Term]
    chunk_forecasts: dict[str, float]  # op -> count x forecast summed over the full chunks
    chunks_forecast_s: float  # the full chunks' forecasts, each a pass with the engine's step overhead

    hardware = property(lambda self: self.resolved.hardware)
    value = lambda self, key: self.terms[key].value  # noqa: E731
    max_batch = property(lambda self: int(self.value("plan.max_batch")))
    @property
    def max_context(self) -> int | None:
        """None when every layer is windowed: any context fits once the window does."""
        return int(self.value("plan.max_context")) if "plan.max_context" in self.terms else None
    ttft_s = property(lambda self: self.value("plan.ttft_s"))
    tpot_s = property(lambda self: self.value("plan.tpot_s"))
    ttft_forecast_s = property(lambda self: self.value("plan.ttft_forecast_s"))
    tpot_forecast_s = property(lambda self: self.value("plan.tpot_forecast_s"))
    fits = property(lambda self: self.at_batch.fits)

    @property
    def chunk_count(self) -> int:
        return self.chunks.steps + (1 if self.last_chunk else 0)


def _context_limit(m: Model, r: Resolved, budget: float) -> Term | None:
    """The longest context whose cache for the batch fits the budget, or None when every layer
    is windowed (the cache stops growing). Between two windows the cache is linear in C:
    B * e_b * (fixed + slope * C), e_b the bytes per token and layer, fixed the capped layers'
    L_g * W_g, slope the growing layers' count; the answer is a floor on the stretch it falls in."""
    groups = kv_cache.window_groups(m)
    consts = kv_cache.constants(m, r.b_kv, r.b_a)
    e_b = float(kv_cache.elements_per_token_per_layer(m, r.mla_mode).evaluate(consts)) * r.b_kv
    name = lambda g, what: f"{what}_{g.label}" if g.label else what  # noqa: E731
    # a hybrid's recurrent state is the batch's whatever the context: it comes off the budget first
    state = kv_cache.state_bytes(m, r.b_a, r.batch)
    values = {**consts, "budget": budget, "B": r.batch, "e_b": e_b, "state": state}
    edges = sorted({g.window for g in groups if g.window})
    for upper in edges + [None]:
        capped = [g for g in groups if g.window and upper is not None and g.window < upper
                  or g.window and upper is None]
        growing = [g for g in groups if g not in capped]
        if not growing:
            return None
        fixed = add(*(sym(name(g, "L")) * sym(name(g, "W")) for g in capped)) if capped else 0
        slope = add(*(sym(name(g, "L")) for g in growing))
        room = sym("budget") - sym("state") if state else sym("budget")
        expr = emax(0, floor((room / (sym("B") * sym("e_b")) - fixed) / slope))
        (t,) = evaluate_figures([figure("plan.max_context", expr, "count",
                                        "largest C with B * e_b * sum over layers of min(C, W) <= budget"
                                        + (" - state (the batch's recurrent state)" if state else ""))], values)
        if upper is None or t.value < upper:
            return t
    return None


def plan(m: Model, hw: Hardware | str | None = None, workload: Workload | None = None, tp: int = 1) -> Plan:
    part, hw = shard(m, tp), target_gpu(hw)
    r = resolve(part, hw, workload)
    a = analyze(part, hw, r)
    terms = dict(a.terms)
    plan_figs = [figure("plan.kv_budget_bytes", sym("usable_bytes") - sym("weights_bytes") - sym("workspace_bytes"),
                        "bytes", "what the KV cache may use"),
                 figure("plan.max_batch", emax(0, floor(sym("kv_budget_bytes") / sym("kv_cache_bytes_per_sequence"))),
                        "count", "sequences of the context that fit the budget (0: not even one)")]
    values = {k.rsplit(".", 1)[-1]: t.value for k, t in terms.items()}
    for t in evaluate_figures(plan_figs, values):
        terms[t.key] = t
    limit = _context_limit(part, r, terms["plan.kv_budget_bytes"].value)
    if limit is not None:
        terms[limit.key] = limit

    form = model_form(part, r)
    chunk, P, prefix = r.chunk, r.prompt, r.prefix
    full = P // chunk
    j = Sym("j")
    chunks = sum_ops(form.prefill, hw, r.batch, "chunks", "j", 0, full - 1,
                     {"S_q": chunk, "C": prefix + (j + 1) * chunk}, "plan.prefill_chunks")
    rest = P - full * chunk
    last = analyze(part, hw, replace(r.workload, prompt=rest, prefix=prefix + full * chunk, context=r.context)) \
        if rest else None
    ar = {}
    for name, tokens in (("chunk", r.batch * chunk), ("last", r.batch * rest), ("decode", r.batch)):
        ar[name] = allreduce(m, r, tp, tokens, f"plan.allreduce_{name}_s")
        ar[name + "_forecast"] = allreduce(m, r, tp, tokens, f"plan.allreduce_{name}_forecast_s", RING_FORECAST)
    chunk_total, chunk_ops = _chunks_forecast(part, hw, r, full)
    steps = [("chunks_s", chunks.time_s), ("last_chunk_s", last.ttft_s if last else 0.0),
             ("chunks_forecast_s", chunk_total),
             ("last_chunk_forecast_s", last.ttft_forecast_s if last else 0.0),
             ("tpot_gpu", a.tpot_s), ("tpot_gpu_forecast", a.tpot_forecast_s), ("n_chunks", full), ("B", r.batch),
             *((f"allreduce_{k}", t.value if rest or not k.startswith("last") else 0.0) for k, t in ar.items())]
    what = f"the prompt of {P} tokens in {full} chunk(s) of {chunk}" + (f" and one of {rest}" if rest else "")
    more = [figure("plan.ttft_s", sym("chunks_s") + sym("last_chunk_s") + sym("n_chunks") * sym("allreduce_chunk")
                   + sym("allreduce_last"), "seconds", what),
            figure("plan.ttft_forecast_s", sym("chunks_forecast_s") + sym("last_chunk_forecast_s")
                   + sym("n_chunks") * sym("allreduce_chunk_forecast") + sym("allreduce_last_forecast"), "seconds",
                   what + f": each chunk's forecast (a forward pass of {r.engine.name}) and its all-reduces"),
            *_decode_figures(r.engine.name), figure("plan.decode_tokens_per_s", sym("B") / sym("tpot_s"), "per_second")]
    for t in evaluate_figures(more, dict(steps)):
        terms[t.key] = t
    terms.update({t.key: t for k, t in ar.items() if not k.startswith("last")})
    return Plan(m, part, tp, r, a, chunks, last, terms, chunk_ops, chunk_total)


def allreduce(m: Model, r: Resolved, tp: int, tokens: int, key: str, expr=RING) -> Term:
    """The two all-reduces per layer of `tokens` rows of the whole model m, tensor parallel over
    tp GPUs of r's hardware (0 on one GPU)."""
    if tp == 1:
        return Term(key, Sym("zero"), {"zero": 0}, 0.0, "seconds", "one GPU")
    hw = r.hardware
    if not hw.interconnect_bytes_per_s:
        raise SpecError("--tp", None, f"{hw.name} has no interconnect bandwidth to time all-reduces")
    ring = {"N": tp, "L": m.num_hidden_layers, "D": m.hidden_size, "b_a": r.b_a, "T": tokens,
            "link": hw.interconnect_bytes_per_s, "f_link": hw.achievable.link_fraction,
            "t_ar": r.engine.allreduce_latency_s}
    return evaluate_figures([figure(key, expr, "seconds")], ring)[0]


def _decode_figures(engine: str) -> tuple:
    return (figure("plan.tpot_s", sym("tpot_gpu") + sym("allreduce_decode"), "seconds",
                   "one decode step per GPU plus its all-reduces"),
            figure("plan.tpot_forecast_s", sym("tpot_gpu_forecast") + sym("allreduce_decode_forecast"), "seconds",
                   f"one decode step's forecast per GPU ({engine}) plus its all-reduces' forecast"))


def decode_step(m: Model, part: Model, hw: Hardware, workload: Workload, tp: int, batches=None) -> tuple[Term, Term]:
    """plan's TPOT and its forecast (plan.tpot_s, plan.tpot_forecast_s) alone: one decode step of
    the workload's batch at its context on the shard `part` of m, and its all-reduces; without
    the prompt's chunks and the memory plan runs too (what serve evaluates at every point). With
    `batches` (an int array) each value is an array over them (inference.decode_over)."""
    r = resolve(part, hw, workload)
    a = analyze(part, hw, r) if batches is None else decode_over(r, batches)
    tokens = a.resolved.batch
    values = {"tpot_gpu": a.tpot_s, "tpot_gpu_forecast": a.tpot_forecast_s,
              "allreduce_decode": allreduce(m, r, tp, tokens, "plan.allreduce_decode_s").value,
              "allreduce_decode_forecast": allreduce(m, r, tp, tokens, "plan.allreduce_decode_forecast_s",
                                                     RING_FORECAST).value}
    tpot, forecast = evaluate_figures(_decode_figures(r.engine.name), values)
    return tpot, forecast


def prompt_pass(p: Plan) -> Analysis:
    """The prompt prefilled as one pass per GPU (what a prompt of one chunk runs)."""
    r = p.resolved
    return analyze(p.shard, p.hardware, replace(r.workload, prompt=r.prompt, prefix=r.prefix,
                                                context=r.prefix + r.prompt))


def _chunks_forecast(part: Model, hw: Hardware, r: Resolved, full: int) -> tuple[float, dict[str, float]]:
    """The full chunks' forecasts summed (each a pass with its step overhead), and per op its
    count x forecast summed: chunk j prefills `chunk` tokens after prefix + j*chunk cached ones."""
    s = forecast_sum(0, full - 1, lambda j: analyze(part, hw, replace(
        r.workload, prompt=r.chunk, prefix=r.prefix + j * r.chunk, context=r.prefix + (j + 1) * r.chunk)).prefill,
        r.engine.step_overhead_s)
    return s.total_s, s.ops



