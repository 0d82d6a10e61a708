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

from rooflint.analysis.expert_parallel import ep_pass, ep_shard
from rooflint.analysis.expr import sym
from rooflint.analysis.plan import decode_step, plan, shard
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Workload, target_gpu

BLOCK = 16  # tokens per KV block (vLLM's default)
MAX_TP = 8  # tensor parallelism stays inside one node's NVLink domain
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
class Layout:
    tp: int
    dp: int
    ep: int = 1  # > 1: data-parallel attention over ep GPUs, the routed experts placed over them

    @property
    def gpus(self) -> int:
        return self.tp * self.dp

    @property
    def label(self) -> str:
        return f"dp{self.dp} attn + ep{self.ep}" if self.ep > 1 else f"tp{self.tp} x dp{self.dp}"

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "dp": self.dp, "pp": 1, "ep": self.ep}


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


def layouts(m: Model, gpus: int, tp: int | None = None, ep: bool | None = None) -> list[Layout]:
    """Every tp (a power of two up to MAX_TP, or the given one) that divides the GPUs and the model,
    and for a MoE model over several GPUs data-parallel attention with the experts over all of
    them (ep True: that alone; False: never)."""
    if ep:
        ep_shard(m, gpus)  # refused here when the experts do not split over the GPUs
        return [Layout(1, gpus, gpus)]
    more = []
    if ep is None and m.num_experts and gpus > 1 and tp is None:
        try:
            ep_shard(m, gpus)
            more = [Layout(1, gpus, gpus)]
        except SpecError:
            pass
    return _tp_layouts(m, gpus, tp) + more


def _tp_layouts(m: Model, gpus: int, tp: int | None) -> list[Layout]:
    if tp is not None:
        if gpus % tp:
            raise SpecError("--tp", None, f"{tp} GPUs per replica do not divide --gpus {gpus}")
        shard(m, tp)  # a tp the model cannot be split by is refused here
        return [Layout(tp, gpus // tp)]
    out = []
    for t in (2**i for i in range(int(math.log2(MAX_TP)) + 1)):
        if t > gpus or gpus % t:
            continue
        try:
            shard(m, t)
        except SpecError:
            continue
        out.append(Layout(t, gpus // t))
    if not out:
        raise SpecError("--gpus", None, f"no tensor-parallel size up to {MAX_TP} divides {gpus} GPUs and {m.name}")
    return out


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
          ep: bool | None = None) -> Serving:
    hw = target_gpu(hw)
    base = workload or Workload()
    if not 0 <= prefix_hit < 1:
        raise SpecError("--prefix-hit", None, f"expected a share in [0, 1), got {prefix_hit}")
    levels = tuple(concurrency or DEFAULT_CONCURRENCY)
    cached = math.floor(prefix_hit * isl)
    mean = isl + osl // 2
    longest = math.ceil((isl + osl) / BLOCK) * BLOCK
    points: list[Point] = []
    engine = ""
    for layout in layouts(m, gpus, tp, ep):
        whole = ep_shard(m, layout.ep) if layout.ep > 1 else m  # what plan shards by tp
        at = lambda batch, prompt, prefix, context: plan(  # noqa: E731
            whole, hw, replace(base, batch=batch, prompt=prompt, prefix=prefix, context=context), layout.tp)
        capacity = at(1, 1, longest - 1, longest).max_batch
        prompt_work = replace(base, batch=1, prompt=isl - cached, prefix=cached, context=isl)
        if layout.ep > 1:
            pre, pre_forecast = ep_pass(m, whole, hw, prompt_work, layout.ep, "prefill")
        else:
            p = at(1, isl - cached, cached, isl)
            pre, pre_forecast = p.terms["plan.ttft_s"], p.terms["plan.ttft_forecast_s"]
            engine = p.resolved.engine.name if p.resolved.engine else ""
        part = shard(whole, layout.tp)
        for c in levels:
            per = math.ceil(c / layout.dp)
            work = replace(base, batch=per, prompt=1, prefix=mean - 1, context=mean)
            tpot, tpot_forecast = (ep_pass(m, part, hw, work, layout.ep, "decode") if layout.ep > 1
                                   else decode_step(whole, part, hw, work, layout.tp))
            values = {"c": per, "osl": osl, "concurrency": c, "N": gpus,
                      "t_decode": tpot.value, "t_prefill": pre.value,
                      "t_decode_forecast": tpot_forecast.value, "t_prefill_forecast": pre_forecast.value}
            inputs = [replace(t, key=name) for name, t in (
                ("t_decode", tpot), ("t_decode_forecast", tpot_forecast),
                ("t_prefill", pre), ("t_prefill_forecast", pre_forecast))]
            terms = evaluate_figures((*_FIGURES[""], *_FIGURES["_forecast"], *_RATES), values)
            points.append(Point(c, layout, per, capacity, (*inputs, *terms)))
    return Serving(m, hw, gpus, isl, osl, prefix_hit, tuple(points), pareto(points), engine)
