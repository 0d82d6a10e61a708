"""Serving in steady state: continuous batching of requests of `isl` prompt and `osl` output
tokens over N GPUs, at each concurrency and layout; the frontier of throughput per GPU against
tokens/s per user.

A layout is tp GPUs per replica (tensor parallel, plan.py's shard and all-reduces) and dp = N / tp
replicas, each serving concurrency / dp requests. In steady state a replica's c requests sit at a
mean context of isl + osl / 2 and each of them prefills once per osl of its decode steps, so a
scheduler step (vLLM's and TensorRT-LLM's in-flight batching, prefill interleaved with decode) is
one decode pass of the batch plus c / osl of a prompt's prefill:

    tpot = t_decode(c, isl + osl / 2) + c / osl * (t_prefill(isl) - t_pass(1 token))   (between tokens)
    ttft = t_prefill(isl) + t_decode(c, isl + osl / 2)                 (its prefill, and the step it joins)
    interactivity = 1 / tpot tokens/s per user; throughput per GPU = concurrency / tpot / N

both from the forecast, with the bound's beside them. A prefix-cache hit rate h prefills only
the (1 - h) isl tokens not cached. The KV cache is paged in blocks of 16 tokens: a replica holds
as many requests of isl + osl tokens (rounded up to a block) as its KV budget does
(plan.max_batch); a concurrency beyond that does not fit and is not on the frontier.

Speculative decoding (speculative.py) makes a step yield tau tokens per sequence for the price of
a verify pass and K draft steps: t_decode becomes the step over tau, and a request joins a whole
step. Disaggregated serving gives P of every P + D GPUs to prefill: the decode pool's steps no
longer carry prefills (the c / osl term goes), a prompt's KV cache moves to its decode GPU
(send/recv) before it joins, and a point fits only while the prefill pool's groups / t_prefill
requests per second keep up with the c / (osl tpot) that finish. With `--dist` the
lengths are drawn (length_mix.py): the mean context, the finishing rate and the KV blocks per
request come from the mix. A prefill mixed into a step shares the step's weight reads, launches
and overhead: it is charged its time less a one-token pass's (under pp, the heaviest stage's
share of it). Queueing and schedulers' prefill chunk budgets are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rooflint.analysis import pipeline
from rooflint.analysis.collectives import GPUS_PER_NODE, collective
from rooflint.analysis.expert_parallel import ep_pass, ep_shard
from rooflint.analysis.expr import emax, sym
from rooflint.analysis.inference import analyze, decode_over
from rooflint.analysis.layouts import Layout, layouts
from rooflint.analysis.length_mix import LengthMix, length_mix
from rooflint.analysis.paged import LengthDraw
from rooflint.analysis.plan import RING_FORECAST, allreduce, decode_step, plan, shard
from rooflint.analysis.speculative import Speculation, draft_memory, speculative_step
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import MAX_COUNT, Workload, resolve, target_gpu

BLOCK = 16  # tokens per KV block (vLLM's default)
DEFAULT_CONCURRENCY = tuple(2**i for i in range(11))  # 1 .. 1024

_c, _osl, _n, _conc = sym("c osl N concurrency")
_FIGURES = {kind: (figure(f"tpot{kind}_s", sym(f"t_decode{kind}") + sym("mixed") * _c / _osl * sym("share")
                          * emax(sym(f"t_prefill{kind}") - sym(f"t_base{kind}"), 0), "seconds",
                          "a step per token: the batch's decode and (prefill mixed in) c / osl of a prefill, less "
                          "what a one-token pass costs (weights, launches, overhead: shared with the decode)"),
                   figure(f"ttft{kind}_s", sym(f"t_prefill{kind}") + sym(f"t_kv{kind}") + sym(f"t_join{kind}"),
                          "seconds", "the prompt's prefill, its KV cache's move (disaggregated), the step it joins"))
            for kind in ("", "_forecast")}
_RATES = (figure("interactivity", 1 / sym("tpot_forecast_s"), "per_second", "tokens/s per user (forecast)"),
          figure("throughput_per_gpu", _conc / sym("tpot_forecast_s") / _n, "per_second",
                 "output tokens/s per GPU (forecast)"))


@dataclass(frozen=True, slots=True, eq=False)
class Block:
    """One layout at every concurrency level: each term's value (and each binding that varies)
    an array over the levels."""

    layout: Layout
    levels: Any  # int array: the concurrencies
    per: Any  # int array: requests on the busiest replica at each
    kv_capacity: int  # requests of isl + osl tokens a replica's KV budget holds
    terms: tuple[Term, ...]
    keeps_up: Any  # bool array; disaggregated: the prefill pool prefills as fast as requests finish
    columns: dict[str, Any] = field(init=False)  # term key -> its value(s)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", {t.key: t.value for t in self.terms})

    @property
    def fits(self) -> Any:
        """Bool array: the level's requests fit the KV budget, and the prefill pool keeps up."""
        return (self.per <= self.kv_capacity) & self.keeps_up


@dataclass(frozen=True, slots=True, eq=False)
class Point:
    """One concurrency of one layout: a view into its block."""

    block: Block
    index: int

    concurrency = property(lambda self: int(self.block.levels[self.index]))
    layout = property(lambda self: self.block.layout)
    per_replica = property(lambda self: int(self.block.per[self.index]))
    kv_capacity = property(lambda self: self.block.kv_capacity)
    prefill_keeps_up = property(lambda self: bool(self.block.keeps_up[self.index]))

    @property
    def fits(self) -> bool:
        return bool(self.block.fits[self.index])

    def value(self, key: str) -> float:
        return _at(self.block.columns[key], self.index)

    @property
    def terms(self) -> tuple[Term, ...]:
        i = self.index
        return tuple(replace(t, value=_at(t.value, i), bindings={k: _at(v, i) for k, v in t.bindings.items()})
                     for t in self.block.terms)


def _at(v: Any, i: int) -> Any:
    """The i-th level's value of an array over the levels (a number that does not vary stays)."""
    return v[i].item() if getattr(v, "ndim", 0) else v


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
    mix: LengthMix | None = None  # drawn lengths (--dist): isl and osl are then their means


def pareto(blocks: Sequence[Block]) -> tuple[int, ...]:
    """Indices (into the points of the blocks in order) of the fitting points no other fitting
    point beats on both interactivity and throughput per GPU, by interactivity descending."""
    import numpy as np

    def column(key: str):
        return np.concatenate([np.broadcast_to(b.columns[key], b.levels.shape) for b in blocks]).astype(float)

    fits = np.concatenate([b.fits for b in blocks])
    inter, thr = column("interactivity"), column("throughput_per_gpu")
    idx = np.flatnonzero(fits)
    order = idx[np.lexsort((-thr[idx], -inter[idx]))]
    t = thr[order]
    best = np.maximum.accumulate(np.concatenate(([-np.inf], t[:-1])))  # the best throughput before each
    return tuple(int(i) for i in order[t > best])


def serve(m: Model, hw: Hardware | str | None, gpus: int, isl: int, osl: int, workload: Workload | None = None,
          concurrency: Sequence[int] | None = None, tp: int | None = None, prefix_hit: float = 0.0,
          ep: bool | None = None, pp: int | None = None, spec: Speculation | None = None,
          disagg: tuple[int, int] | None = None, dist: LengthDraw | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> Serving:
    """The steady state at each concurrency of each layout; progress(layout, done, layouts) after each."""
    import numpy as np

    hw = target_gpu(hw)
    base = workload or Workload()
    if not 0 <= prefix_hit < 1:
        raise SpecError("--prefix-hit", None, f"expected a share in [0, 1), got {prefix_hit}")
    given = tuple(concurrency or DEFAULT_CONCURRENCY)
    bad = [c for c in given if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 1 <= c <= MAX_COUNT]
    if bad:
        raise SpecError("--concurrency", None, f"expected whole numbers from 1 to 2**53, got {bad[0]!r}")
    levels = np.asarray(given, dtype=np.int64)
    mix = None
    if dist is not None:  # isl and osl are the means of the drawn prompts and outputs
        mix = length_mix(replace(dist, mean=isl), replace(dist, mean=osl), BLOCK)
        isl, osl, mean, longest = mix.isl, mix.osl, mix.context, mix.longest
    else:
        mean = isl + osl // 2
        longest = math.ceil((isl + osl) / BLOCK) * BLOCK
    cached = math.floor(prefix_hit * isl)
    blocks: list[Block] = []
    prefill_gpus = 0
    if disagg is not None:
        p_share, d_share = disagg
        prefill_gpus = gpus * p_share // (p_share + d_share)
        if prefill_gpus * (p_share + d_share) != gpus * p_share or not 0 < prefill_gpus < gpus:
            raise SpecError("--disagg", None, f"{p_share}:{d_share} does not split {gpus} GPUs into two pools")
    if spec is not None and mean <= spec.tokens + 1:
        raise SpecError("--spec-tokens", None, f"{spec.tokens} drafts need a context above {spec.tokens + 1} tokens; "
                        f"the mean is {mean}")
    if spec is not None and (ep or (pp or 1) > 1):
        raise SpecError("--spec-tokens", None, "speculative decoding is modelled on tensor-parallel replicas only "
                        "(not with --pp or --dp-attention)")
    candidates = layouts(m, gpus - prefill_gpus, tp, ep, pp)
    if spec is not None:
        candidates = [lay for lay in candidates if lay.pp == 1 and lay.ep == 1]
    for done, layout in enumerate(candidates, 1):
        if progress is not None:
            progress(layout.label, done - 1, len(candidates))
        per_group = layout.tp * layout.pp
        if prefill_gpus % per_group or (layout.ep > 1 and prefill_gpus):
            continue  # the prefill pool is made of the same groups (an expert-parallel pool is one group)
        whole = ep_shard(m, layout.ep) if layout.ep > 1 else m  # what plan shards by tp
        part = shard(whole, layout.tp)
        draft = draft_memory(m, hw, base, layout.tp, longest, spec) if spec is not None else (0.0, 0.0)
        capacity, pre, pre_forecast = _replica(m, whole, part, hw, layout, base, isl, cached, longest, draft)
        kv = _kv_move(whole, part, hw, layout, base, isl, gpus) if prefill_gpus else (0.0, 0.0)
        t_base = _one_token(m, whole, part, hw, layout, base)
        per = -(-levels // layout.dp)  # the busiest replica's requests
        if spec is not None:  # a verify pass per level: plan's chunked prefill is not over arrays
            step = _stacked([speculative_step(m, hw, base, layout.tp, int(c), mean, spec) for c in per])
            tpot, tpot_forecast = step["t_decode"], step["t_decode_forecast"]
            join = (step["t_step"].value, step["t_step_forecast"].value)
            extra = [step["tau"], step["t_step"], step["t_step_forecast"]]
        else:
            tpot, tpot_forecast = _decode(m, whole, part, hw, layout, base, per, mean)
            join, extra = (tpot.value, tpot_forecast.value), []
        values = {"c": per, "osl": osl, "concurrency": levels, "N": gpus, "mixed": 0 if prefill_gpus else 1,
                  "share": pipeline.stage_share(whole, layout.pp), "t_base": t_base[0].value,
                  "t_base_forecast": t_base[1].value, "t_decode": tpot.value, "t_prefill": pre.value,
                  "t_join": join[0], "t_join_forecast": join[1], "t_kv": kv[0], "t_kv_forecast": kv[1],
                  "t_decode_forecast": tpot_forecast.value, "t_prefill_forecast": pre_forecast.value}
        inputs = [replace(t, key=name) for name, t in (
            ("t_decode", tpot), ("t_decode_forecast", tpot_forecast),
            ("t_prefill", pre), ("t_prefill_forecast", pre_forecast),
            ("t_base", t_base[0]), ("t_base_forecast", t_base[1]))]
        rates = evaluate_figures((*_FIGURES[""], *_FIGURES["_forecast"], *_RATES), values)
        tpot_f = next(t.value for t in rates if t.key == "tpot_forecast_s")
        # a prefill pool must keep up: c / (osl tpot) requests/s against its groups / t_prefill
        keeps_up = (np.ones(levels.shape, bool) if not prefill_gpus else
                    levels / (osl * tpot_f) <= prefill_gpus // per_group / pre_forecast.value)
        blocks.append(Block(layout, levels, per, capacity, (*inputs, *extra, *rates), keeps_up))
    if progress is not None:
        progress("", len(candidates), len(candidates))
    if not blocks:
        raise SpecError("--disagg" if prefill_gpus else "--gpus", None,
                        "no layout of the decode pool also divides the prefill pool" if prefill_gpus
                        else f"no layout of {gpus} GPUs serves {m.name} this way")
    engine = resolve(m, hw, base).engine.name
    points = tuple(Point(b, i) for b in blocks for i in range(len(levels)))
    return Serving(m, hw, gpus, isl, osl, prefix_hit, points, pareto(blocks), engine, mix)


def _stacked(steps: list[list[Term]]) -> dict[str, Term]:
    """Per-level lists of the same terms as one term each over the levels."""
    import numpy as np

    return {t.key: replace(t, value=np.array([s[j].value for s in steps]),
                           bindings={k: np.array([s[j].bindings[k] for s in steps]) for k in t.bindings})
            for j, t in enumerate(steps[0])}


def _replica(m: Model, whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload, isl: int, cached: int,
             longest: int, draft: tuple[float, float] = (0.0, 0.0)) -> tuple[int, Term, Term]:
    """A replica's KV capacity (requests of `longest` tokens) and one prompt's prefill (bound,
    forecast); `draft` is what a speculative draft adds per GPU: weight bytes, KV bytes per request."""
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
    fit = plan(whole, hw, replace(base, batch=1, prompt=1, prefix=longest - 1, context=longest), layout.tp)
    capacity = fit.max_batch
    if draft != (0.0, 0.0):  # the draft's weights and its own KV cache share the budget
        capacity = max(0, math.floor((fit.value("plan.kv_budget_bytes") - draft[0])
                                     / (fit.value("memory.kv_cache_bytes_per_sequence") + draft[1])))
    if layout.ep > 1:
        return capacity, *ep_pass(m, whole, hw, prompt, layout.ep, "prefill")
    p = plan(m, hw, prompt, layout.tp)
    return capacity, p.terms["plan.ttft_s"], p.terms["plan.ttft_forecast_s"]


def _decode(m: Model, whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload, per,
            mean: int) -> tuple[Term, Term]:
    """A replica's time between tokens with `per` requests (an int array over the levels) at the
    mean context (bound, forecast; arrays): one decode step, or with pp stages a cycle of pp
    micro-batches."""
    work = replace(base, batch=1, prompt=1, prefix=mean - 1, context=mean)  # the batch comes as the array
    if layout.pp > 1:
        mb = -(-per // layout.pp)
        r = resolve(part, hw, work)
        a = decode_over(r, mb)
        ar = (allreduce(m, r, layout.tp, mb, "t_ar").value,
              allreduce(m, r, layout.tp, mb, "t_ar_forecast", RING_FORECAST).value)
        return pipeline.cycle(a, layout.pp, layout.tp, hw, ar)
    if layout.ep > 1:
        return ep_pass(m, part, hw, work, layout.ep, "decode", per)
    return decode_step(whole, part, hw, work, layout.tp, per)


def _kv_move(whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload, isl: int,
             gpus: int) -> tuple[float, float]:
    """A prompt's KV cache from a prefill GPU to its decode GPU (each GPU of the group its shard, at
    once): send/recv of the comm model, across nodes when the GPUs span them."""
    a = analyze(part, hw, replace(base, batch=1, prompt=1, prefix=isl - 1, context=isl))
    c = collective("send_recv", a.kv_bytes_per_sequence * pipeline.stage_share(whole, layout.pp), 2, hw, 2 if gpus > GPUS_PER_NODE else 1)
    return c.value("time_s"), c.value("time_forecast_s")


def _one_token(m: Model, whole: Model, part: Model, hw: Hardware, layout: Layout, base: Workload) -> tuple[Term, Term]:
    """What a pass of one token costs the replica (its weights, launches, all-reduce latencies, step
    overhead): the share of a prefill that, mixed into a decode step, the decode pays already."""
    work = replace(base, batch=1, prompt=1, prefix=0, context=1)
    if layout.pp > 1:
        a = analyze(part, hw, work)
        return pipeline.latency(a, 1, *decode_step(whole, part, hw, work, layout.tp), layout.pp, layout.tp, hw)
    if layout.ep > 1:
        return ep_pass(m, part, hw, work, layout.ep, "decode")
    return decode_step(whole, part, hw, work, layout.tp)
