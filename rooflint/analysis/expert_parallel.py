"""Data-parallel attention with expert parallelism (as DeepSeek-V3 is served: SGLang's and vLLM's
`--enable-dp-attention` / `--enable-expert-parallel`): each of the ep GPUs runs the attention,
the dense layers and the shared experts of its own requests with full weights, and holds E / ep
of the routed experts whole.

What one GPU does is then the model with E / ep experts, for its own batch: its tokens' T k
selections spread over all E experts, so a GPU serves T k / ep of the whole group's (its own
T tokens picking k of its E / ep local experts is the same count), and the distinct local experts
its batch hits, (E / ep)(1 - (1 - k ep / E)^T), is to first order the T k / E per expert of the
whole group's routing. That is `ep_shard`: the analysis of it is one GPU's work.

Each MoE layer adds two all-to-alls over the ep GPUs: dispatch (each token's hidden state to the
GPUs of its k experts) and combine (the k outputs back). A rank's buffer is T k D b_a bytes
(nccl-tests' all-to-all size), of which (ep - 1) / ep leaves it; both are timed by the collective
model (analysis/collectives.py) over the NVLink domain, across nodes beyond 8 GPUs.

A step waits for the busiest GPU. Under uniform routing the T k ep selections of a step fall on a
GPU's experts with probability 1 / ep each, a binomial of mean T k and relative spread
sqrt((1 - 1/ep) / (T k)); the largest of ep such is about sqrt(2 ln ep) spreads above the mean
(the Gaussian extreme), so the busiest GPU's experts see imbalance = 1 + sqrt(2 ln ep (1 - 1/ep) /
(T k)) times the mean's tokens: its expert ops are timed at that many tokens (1.12 for DeepSeek-V3
at 32 tokens a GPU on 8; real routers are more skewed, which redundant experts (EPLB) offset),
interpolated between the whole token counts either side.
"""

from __future__ import annotations

import math
from dataclasses import replace

from rooflint.analysis.collectives import GPUS_PER_NODE, collective
from rooflint.analysis.expr import sym
from rooflint.analysis.inference import analyze, decode_over
from rooflint.analysis.memo import per_object
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Resolved, Workload, resolve

_SHARDS: dict = {}


def ep_shard(m: Model, ep: int) -> Model:
    """One GPU of ep: the model with E / ep whole experts (attention and dense layers whole)."""
    if not m.num_experts:
        raise SpecError("--dp-attention", None, f"{m.name} has no routed experts to place")
    if m.num_experts % ep:
        raise SpecError("--dp-attention", None, f"{ep} GPUs do not divide {m.name}'s {m.num_experts} experts")
    if m.num_experts // ep < m.num_experts_per_tok:
        raise SpecError("--dp-attention", None, f"{ep} GPUs leave {m.num_experts // ep} experts each, fewer than the "
                        f"{m.num_experts_per_tok} a token picks")
    # one object per (model, ep): its compiled forms are reused
    return per_object(_SHARDS, (m,), lambda: replace(m, num_experts=m.num_experts // ep,
                                                     router_experts=m.router_experts or m.num_experts,
                                                     name=f"{m.name}/ep{ep}", path=m.path), ep)


def moe_layers(m: Model) -> int:
    return sum(1 for i in range(m.num_hidden_layers) if m.layer_is_moe(i))


def all_to_all_bytes(m: Model, tokens: int, b_a: float) -> float:
    """A rank's all-to-all buffer for `tokens` of its own: each token's k selections of D elements."""
    return tokens * m.num_experts_per_tok * m.hidden_size * b_a


IMBALANCE = figure("imbalance", 1 + (2 * sym("ln_ep") * (1 - 1 / sym("ep")) / (sym("T") * sym("k"))) ** 0.5,
                   "ratio", "the busiest GPU's expert tokens over the mean's (uniform routing, Gaussian extreme)")
_STEP = (figure("ep_time_s", sym("t_gpu") - sym("t_experts") + sym("t_experts_busy") + 2 * sym("L_moe") * sym("t_a2a"),
                "seconds", "one GPU's pass with the busiest GPU's experts, a dispatch and a combine per MoE layer"),
         figure("ep_time_forecast_s", sym("t_gpu_forecast") - sym("t_experts_forecast") + sym("t_experts_busy_forecast")
                + 2 * sym("L_moe") * sym("t_a2a_forecast"), "seconds", "the same from the forecasts"))


def ep_pass(m: Model, part: Model, hw: Hardware, workload: Workload, ep: int, phase: str,
            batches=None) -> tuple[Term, Term]:
    """A decode step ("decode") or the prompt's prefill ("prefill") of one GPU of ep, with its
    all-to-alls: (time, forecast). With `batches` (an int array; decode only) each value is an
    array over them."""
    r: Resolved = resolve(part, hw, workload)
    over = batches is not None
    if over and phase != "decode":
        raise ValueError("ep_pass over an array of batches is a decode step's only")
    a = decode_over(r, batches) if over else analyze(part, hw, r)
    count = a.resolved.batch if phase == "decode" else r.prompt
    tokens = a.resolved.batch * (1 if phase == "decode" else r.prompt)
    nodes = max(1, math.ceil(ep / GPUS_PER_NODE))
    c = collective("all_to_all", all_to_all_bytes(m, tokens, r.b_a), ep, hw, nodes if ep % nodes == 0 else 1)
    t, f = (a.tpot_s, a.tpot_forecast_s) if phase == "decode" else (a.ttft_s, a.ttft_forecast_s)
    (imbalance,) = evaluate_figures([IMBALANCE], {"ep": ep, "ln_ep": math.log(ep), "T": tokens,
                                                  "k": m.num_experts_per_tok})
    # the busiest GPU's tokens are count x imbalance, not whole: its expert time is interpolated
    # between the whole counts either side
    want = count * imbalance.value
    if over:
        import numpy as np

        low = np.floor(want)
        lo, hi = (decode_over(r, n).decode for n in (low, low + 1))
        busy = [lo.time_of("experts_", fc) + (want - low) * (hi.time_of("experts_", fc) - lo.time_of("experts_", fc))
                for fc in (False, True)]
        own = [a.decode.time_of("experts_", fc) for fc in (False, True)]
    else:
        low = math.floor(want)
        passes = {count: a}

        def experts_at(n: int, forecast: bool) -> float:
            if n not in passes:
                work = (replace(workload, batch=n) if phase == "decode"
                        else replace(workload, prompt=n, context=r.prefix + n))
                passes[n] = analyze(part, hw, resolve(part, hw, work))
            x = passes[n]
            return (x.decode if phase == "decode" else x.prefill).time_of("experts_", forecast)

        def at_busiest(forecast: bool) -> float:
            lo = experts_at(low, forecast)
            return lo + (want - low) * (experts_at(low + 1, forecast) - lo) if want > low else lo

        busy = [at_busiest(fc) for fc in (False, True)]
        own = [experts_at(count, fc) for fc in (False, True)]
    values = {"t_gpu": t, "t_gpu_forecast": f, "L_moe": moe_layers(m), "t_a2a": c.value("time_s"),
              "t_a2a_forecast": c.value("time_forecast_s"), "t_experts": own[0], "t_experts_forecast": own[1],
              "t_experts_busy": busy[0], "t_experts_busy_forecast": busy[1]}
    time, forecast = evaluate_figures(_STEP, values)
    return time, forecast
