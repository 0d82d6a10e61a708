"""`plan --gpus N`: every layout of N GPUs for one workload (a batch of prompts, decoded at a
context), ranked by the forecast time per output token among those that fit, and why each
other one loses.

The layouts are analysis/layouts.py's with every pipeline depth: tp GPUs per stage, pp stages
and N / (tp pp) replicas, each with ceil(batch / replicas) of the sequences; for a MoE model also
data-parallel attention with the experts over all N (analysis/expert_parallel.py). Memory is per GPU (plan's rule); times are
plan's for the tensor-parallel replicas (the prompt in chunks, the decode step with its
all-reduces), with pp - 1 sends between stages (a request's latency through the pipeline:
analysis/pipeline.py), and one GPU's pass with its all-to-alls for the expert-parallel layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rooflint.analysis import pipeline
from rooflint.analysis.expert_parallel import ep_pass, ep_shard
from rooflint.analysis.layouts import Layout, layouts
from rooflint.analysis.plan import plan
from rooflint.specs import Hardware, Model
from rooflint.workload import Workload, target_gpu


@dataclass(frozen=True, slots=True)
class Ranked:
    layout: Layout
    per_replica: int
    memory_bytes: float  # per GPU: weights, KV cache, workspace
    weights_bytes: float  # per GPU
    usable_bytes: float
    fits: bool
    ttft_s: float
    ttft_forecast_s: float
    tpot_s: float
    tpot_forecast_s: float
    batch: int
    rank: int | None = None  # 1 = the fastest TPOT forecast that fits; None: does not fit
    reason: str = ""

    @property
    def tokens_per_s(self) -> float:
        """Output tokens/s of the whole batch (forecast)."""
        return self.batch / self.tpot_forecast_s


def _evaluate(m: Model, hw: Hardware, w: Workload, layout: Layout, batch: int) -> Ranked:
    per = math.ceil(batch / layout.dp)
    if layout.pp > 1:
        p = plan(m, hw, replace(w, batch=per), layout.tp)
        a = p.at_batch
        mem = pipeline.stage_memory(a, layout.pp)
        r = p.resolved
        pre = pipeline.latency(a, per * r.prompt, p.terms["plan.ttft_s"], p.terms["plan.ttft_forecast_s"], layout.pp,
                               layout.tp, hw)
        dec = pipeline.latency(a, per, p.terms["plan.tpot_s"], p.terms["plan.tpot_forecast_s"], layout.pp, layout.tp,
                               hw)
        return Ranked(layout, per, mem["memory.total_bytes"], mem["memory.weights_bytes"], mem["memory.usable_bytes"],
                      mem["memory.free_bytes"] >= 0, pre[0].value, pre[1].value, dec[0].value, dec[1].value, batch)
    if layout.ep > 1:
        part = ep_shard(m, layout.ep)
        p = plan(part, hw, replace(w, batch=per), 1)
        r = p.resolved
        pre = ep_pass(m, part, hw, replace(w, batch=per, prompt=r.prompt, prefix=r.prefix, context=r.prefix + r.prompt),
                      layout.ep, "prefill")
        dec = ep_pass(m, part, hw, replace(w, batch=per, prompt=1, prefix=r.context - 1, context=r.context),
                      layout.ep, "decode")
        times = (pre[0].value, pre[1].value, dec[0].value, dec[1].value)
    else:
        p = plan(m, hw, replace(w, batch=per), layout.tp)
        times = (p.ttft_s, p.ttft_forecast_s, p.tpot_s, p.tpot_forecast_s)
    a = p.at_batch
    return Ranked(layout, per, a.total_bytes, a.weights_bytes, a.value("memory.usable_bytes"), a.fits, *times, batch)


def rank_layouts(m: Model, hw: Hardware | str | None, workload: Workload | None, gpus: int) -> list[Ranked]:
    """Every layout of `gpus` GPUs, fastest fitting first."""
    hw = target_gpu(hw)
    w = workload or Workload()
    batch = w.batch or 1
    rows = [_evaluate(m, hw, w, layout, batch) for layout in layouts(m, gpus, every_pp=True)]
    fitting = sorted((r for r in rows if r.fits), key=lambda r: r.tpot_forecast_s)
    best = fitting[0] if fitting else None
    out = []
    for i, r in enumerate(fitting, 1):
        if r is best:
            why = "fastest TPOT that fits"
        else:
            why = f"TPOT {r.tpot_forecast_s / best.tpot_forecast_s:.2f}x the best"
            if r.ttft_forecast_s < best.ttft_forecast_s:
                why += f" (TTFT {best.ttft_forecast_s / r.ttft_forecast_s:.2f}x shorter)"
        out.append(replace(r, rank=i, reason=why))
    for r in rows:
        if not r.fits:
            out.append(replace(r, reason=f"does not fit: needs {r.memory_bytes / 2**30:.1f} GiB per GPU, "
                                         f"{r.usable_bytes / 2**30:.1f} usable"))
    return out
