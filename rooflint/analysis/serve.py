"""Serving in steady state: continuous batching of requests of `isl` prompt and `osl` output
tokens over N GPUs, at each concurrency and layout; the frontier of throughput per GPU against
tokens/s per user.

A layout is tp GPUs per replica (tensor parallel, plan.py's shard and all-reduces) and dp = N / tp
replicas, each serving concurrency / dp requests. In steady state a replica's c requests sit at a
mean context of isl + osl / 2 and each of them prefills once per osl of its decode steps, so a
scheduler step (vLLM's and TensorRT-LLM's in-flight batching, prefill interleaved with decode) is
one decode pass of the batch plus c / osl of a prompt's prefill:

    tpot = t_decode(c, isl + osl / 2) + c / osl * t_prefill(isl)      (the time between tokens)
    ttft = t_prefill(isl) + t_decode(c, isl + osl / 2)                 (its prefill, and the step it joins)
    interactivity = 1 / tpot tokens/s per user; throughput per GPU = concurrency / tpot / N

both from the forecast, with the bound's beside them. A prefix-cache hit rate h prefills only
the (1 - h) isl tokens not cached. The KV cache is paged in blocks of 16 tokens: a replica holds
as many requests of isl + osl tokens (rounded up to a block) as its KV budget does
(plan.max_batch); a concurrency beyond that does not fit and is not on the frontier. Queueing,
schedulers' prefill chunk budgets and speculative decoding are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rooflint.analysis import pipeline
from rooflint.analysis.expert_parallel import ep_pass, ep_shard
from rooflint.analysis.expr import sym
from rooflint.analysis.inference import analyze
from rooflint.analysis.layouts import Layout, layouts
from rooflint.analysis.plan import RING_FORECAST, allreduce, decode_step, plan, shard
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Workload, resolve, target_gpu

BLOCK = 16  # tokens per KV block (vLLM's default)
DEFAULT_CONCURRENCY = tuple(2**i for i in range(11))  # 1 .. 1024

_c, _osl, _n, _conc = sym("c osl N concurrency")
_FIGURES = {kind: (figure(f"tpot{kind}_s", sym(f"t_decode{kind}") + _c / _osl * sym(f"t_prefill{kind}"), "seconds",
                          "a step: the batch's decode pass and c / osl of a prefill"),
                   figure(f"ttft{kind}_s", sym(f"t_prefill{kind}") + sym(f"t_decode{kind}"), "seconds",
                          "the prompt's prefill and the step it joins"))
            for kind in ("", "_forecast")}
_RATES = (figure("interactivity", 1 / sym("tpot_forecast_s"), "per_second", "tokens/s per user (forecast)"),
          figure("throughput_per_gpu", _conc / sym("tpot_forecast_s") / _n, "per_second",
                 "output tokens/s per GPU (forecast)"))


@dataclass(frozen=True, slots=True)
class Point:
    concurrency: int
    layout: Layout
    per_replica: int  # requests on the busiest replica
    kv_capacity: int  # requests of isl + osl tokens a replica's KV budget holds
    terms: tuple[Term, ...]

    @property
    def fits(self) -> bool:
        return self.per_replica <= self.kv_capacity

    def value(self, key: str) -> float:
        return next(t.value for t in self.terms if t.key == key)


@dataclass(frozen=True, slots=True)
class Serving:
    model: Model
    hardware: Hardware
    gpus: int
    isl: int
    osl: int
    prefix_hit: float
    points: tuple[Point, ...]
    frontier: tuple[int, ...]  # indices into points: the Pareto set of (interactivity, throughput per GPU)
    engine: str


def pareto(points: Sequence[Point]) -> tuple[int, ...]:
    """Indices of the fitting points no other fitting point beats on both interactivity and
    throughput per GPU, by interactivity descending."""
    order = sorted((i for i, p in enumerate(points) if p.fits),
                   key=lambda i: (-points[i].value("interactivity"), -points[i].value("throughput_per_gpu")))
    out, best = [], -math.inf
    for i in order:
        t = points[i].value("throughput_per_gpu")
        if t > best:
            out.append(i)
            best = t
    return tuple(out)


def serve(m: Model, hw: Hardware | str | None, gpus: int, isl: int, osl: int, workload: Workload | None = None,
          concurrency: Sequence[int] | None = None, tp: int | None = None, prefix_hit: float = 0.0,
          ep: bool | None = None, pp: int | None = None) -> Serving:
    hw = target_gpu(hw)
    base = workload or Workload()
    if not 0 <= prefix_hit < 1:
        raise SpecError("--prefix-hit", None, f"expected a share in [0, 1), got {prefix_hit}")
    levels = tuple(concurrency or DEFAULT_CONCURRENCY)
    cached = math.floor(prefix_hit * isl)
    mean = isl + osl // 2
    longest = math.ceil((isl + osl) / BLOCK) * BLOCK
    points: list[Point] = []
    for layout in layouts(m, gpus, tp, ep, pp):
        whole = ep_shard(m, layout.ep) if layout.ep > 1 else m  # what plan shards by tp
        part = shard(whole, layout.tp)
        capacity, pre, pre_forecast = _replica(m, whole, part, hw, layout, base, isl, cached, longest)
        for c in levels:
            per = math.ceil(c / layout.dp)
            tpot, tpot_forecast = _decode(m, whole, part, hw, layout, base, per, mean)
            values = {"c": per, "osl": osl, "concurrency": c, "N": gpus,
                      "t_decode": tpot.value, "t_prefill": pre.value,
                      "t_decode_forecast": tpot_forecast.value, "t_prefill_forecast": pre_forecast.value}
            inputs = [replace(t, key=name) for name, t in (
                ("t_decode", tpot), ("t_decode_forecast", tpot_forecast),
                ("t_prefill", pre), ("t_prefill_forecast", pre_forecast))]
            terms = evaluate_figures((*_FIGURES[""], *_FIGURES["_forecast"], *_RATES), values)
            points.append(Point(c, layout, per, capacity, (*inputs, *terms)))
    engine = resolve(m, hw, base).engine.name
    return Serving(m, hw, gpus, isl, osl, prefix_hit, tuple(points), pareto(points), engine)


def _replica(m: Model, whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload, isl: int, cached: int,
             longest: int) -> tuple[int, Term, Term]:
    """A replica's KV capacity (requests of `longest` tokens) and one prompt's prefill (bound, forecast)."""
    prompt = replace(base, batch=1, prompt=isl - cached, prefix=cached, context=isl)
    if layout.pp > 1:
        a = analyze(part, hw, replace(base, batch=1, prompt=1, prefix=longest - 1, context=longest))
        mem = pipeline.stage_memory(a, layout.pp)
        budget = mem["memory.usable_bytes"] - mem["memory.weights_bytes"] - mem["memory.workspace_bytes"]
        capacity = max(0, math.floor(budget / (a.kv_bytes_per_sequence * mem["kv_share"])))
        p = plan(m, hw, prompt, layout.tp)
        pre = pipeline.latency(a, isl - cached, p.terms["plan.ttft_s"], p.terms["plan.ttft_forecast_s"], layout.pp,
                               layout.tp, hw)
        return capacity, *pre
    capacity = plan(whole, hw, replace(base, batch=1, prompt=1, prefix=longest - 1, context=longest),
                    layout.tp).max_batch
    if layout.ep > 1:
        return capacity, *ep_pass(m, whole, hw, prompt, layout.ep, "prefill")
    p = plan(m, hw, prompt, layout.tp)
    return capacity, p.terms["plan.ttft_s"], p.terms["plan.ttft_forecast_s"]


def _decode(m: Model, whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload, per: int,
            mean: int) -> tuple[Term, Term]:
    """A replica's time between tokens with `per` requests at the mean context (bound, forecast):
    one decode step, or with pp stages a cycle of pp micro-batches."""
    if layout.pp > 1:
        mb = math.ceil(per / layout.pp)
        work = replace(base, batch=mb, prompt=1, prefix=mean - 1, context=mean)
        r = resolve(part, hw, work)
        a = analyze(part, hw, r)
        ar = (allreduce(m, r, layout.tp, mb, "t_ar").value,
              allreduce(m, r, layout.tp, mb, "t_ar_forecast", RING_FORECAST).value)
        return pipeline.cycle(a, layout.pp, layout.tp, hw, ar)
    work = replace(base, batch=per, prompt=1, prefix=mean - 1, context=mean)
    if layout.ep > 1:
        return ep_pass(m, part, hw, work, layout.ep, "decode")
    return decode_step(whole, part, hw, work, layout.tp)
