"""Pipeline parallelism: the layers cut into pp stages of ceil(L / pp), one tensor-parallel group
per stage, the activations sent from each stage to the next.

Memory per GPU is the heaviest stage's: ceil(L / pp) / L of the layers' weights and KV cache,
and the larger end of the model (the embedding on the first stage; lm_head, or a copy of the
tied embedding, with the final norm on the last). The per-layer share is exact for models whose
layers are alike; for mixed ones (dense and MoE, sliding and full) it is their average.

Time: a pass of B tokens runs every stage in turn, so it takes the whole model's pass on one
group plus pp - 1 sends of B x D activations (send/recv of the comm model, across nodes when the
replica spans them); that is the latency of a request (plan's TTFT and TPOT). Serving splits a
replica's batch into pp micro-batches that keep every stage busy: a request then decodes once
per cycle of pp stage-times, a stage-time being ceil(L / pp) / L of a micro-batch's layer ops,
the model's end ops (lm_head dominates them) and one send.
"""

from __future__ import annotations

import math

from rooflint.analysis import memory
from rooflint.analysis.collectives import GPUS_PER_NODE, collective
from rooflint.analysis.expr import sym
from rooflint.analysis.inference import Analysis
from rooflint.analysis.params import parameter_parts
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.specs import Hardware, Model


def stage_layers(m: Model, pp: int) -> int:
    return math.ceil(m.num_hidden_layers / pp)


def stage_share(m: Model, pp: int) -> float:
    """The heaviest stage's share of the layers (1 without a pipeline)."""
    return stage_layers(m, pp) / m.num_hidden_layers


def end_bytes(a: Analysis) -> tuple[float, float, float]:
    """(first stage's end, last stage's end, what of them the weights count once) in bytes: the
    embedding (and a vision tower); lm_head (a copy of the tied embedding) and the final norm."""
    m, r = a.model, a.resolved
    parts = parameter_parts(m)
    b_lm = dict(r.class_bytes).get("lm_head", r.b_h)
    embedding = (sum(parts["embedding"]) + sum(parts["position_embedding"])) * r.b_h
    vision = sum(parts["vision"]) * r.b_h
    head = parts["lm_head"][0] * b_lm + parts["lm_head"][1] * r.b_h
    norm = sum(parts["final_norm"]) * r.b_h
    return embedding + vision, (head if head else embedding) + norm, embedding + vision + head + norm


def stage_memory(a: Analysis, pp: int) -> dict[str, float]:
    """The heaviest stage's weights, KV cache, workspace and the fit rule's figures, per GPU of the
    analysis's (tensor-parallel) group."""
    share = stage_share(a.model, pp)
    first, last, counted = end_bytes(a)
    weights = (a.weights_bytes - counted) * share + max(first, last)
    kv = a.kv_bytes * share
    r = a.resolved
    out = memory.fit_values(weights, kv, a.terms["memory.workspace_bytes"], r.hardware.capacity_bytes,
                            r.memory_utilization)
    out.update({"memory.weights_bytes": weights, "memory.kv_cache_bytes": kv, "kv_share": share})
    return out


def send(a: Analysis, tokens: int, pp: int, tp: int, hw: Hardware, across: bool | None = None) -> tuple[float, float]:
    """(bound, forecast) of one stage-to-stage send of `tokens` activations: across nodes when
    `across` (None: when the replica spans nodes at all, the slowest of its sends)."""
    if across is None:
        across = pp * tp > GPUS_PER_NODE
    c = collective("send_recv", tokens * a.model.hidden_size * a.resolved.b_a, 2, hw, 2 if across else 1)
    return c.value("time_s"), c.value("time_forecast_s")


def network_sends(pp: int, tp: int) -> int:
    """Of a replica's pp - 1 sends, those between nodes: its stages fill nodes of GPUS_PER_NODE."""
    return min(pp - 1, max(0, math.ceil(pp * tp / GPUS_PER_NODE) - 1))


_LATENCY = (figure("pipeline_s", sym("t_pass") + (sym("pp") - 1 - sym("n_net")) * sym("t_send")
                   + sym("n_net") * sym("t_send_net"), "seconds",
                   "every stage in turn, and a send between each two (n_net of them between nodes)"),
            figure("pipeline_forecast_s", sym("t_pass_forecast") + (sym("pp") - 1 - sym("n_net")) * sym("t_send_forecast")
                   + sym("n_net") * sym("t_send_net_forecast"), "seconds", "the same from the forecasts"))
_CYCLE = (figure("cycle_s", sym("pp") * (sym("share") * (sym("t_layers") + sym("t_ar")) + sym("t_ends")
                                         + sym("t_send")), "seconds",
                 "pp micro-batches through the heaviest stage: its share of the layers and their all-reduces, "
                 "the end ops, a send"),
          figure("cycle_forecast_s", sym("pp") * (sym("share") * (sym("t_layers_forecast") + sym("t_ar_forecast"))
                                                  + sym("t_ends_forecast") + sym("t_send_forecast")) + sym("overhead"),
                 "seconds", "the same from the forecasts, and the engine's step overhead"))


def latency(a: Analysis, tokens: int, t_pass: Term, t_pass_forecast: Term, pp: int, tp: int,
            hw: Hardware) -> tuple[Term, Term]:
    """A pass of `tokens` through the pipeline, given its time on one group (plan's TTFT or TPOT
    with their all-reduces): (bound, forecast)."""
    s, sf = send(a, tokens, pp, tp, hw, across=False)
    n_net = network_sends(pp, tp)
    net, net_f = send(a, tokens, pp, tp, hw, across=True) if n_net else (0.0, 0.0)
    return tuple(evaluate_figures(_LATENCY, {"t_pass": t_pass.value, "t_pass_forecast": t_pass_forecast.value,
                                             "pp": pp, "n_net": n_net, "t_send": s, "t_send_forecast": sf,
                                             "t_send_net": net, "t_send_net_forecast": net_f}))


def cycle(a: Analysis, pp: int, tp: int, hw: Hardware, allreduce: tuple[float, float] = (0.0, 0.0)) -> tuple[Term, Term]:
    """A decode cycle of pp micro-batches of the analysis's batch, `allreduce` the whole model's
    tensor-parallel all-reduces for one micro-batch: (bound, forecast)."""
    d = a.decode
    s, sf = send(a, a.resolved.batch, pp, tp, hw)
    overhead = a.tpot_forecast_s - d.kernels_forecast_s  # the engine's per-step overhead
    values = {"pp": pp, "share": stage_share(a.model, pp),
              "t_layers": d.time_by_scope("layer"), "t_ends": d.time_by_scope("model"),
              "t_layers_forecast": d.time_by_scope("layer", True), "t_ends_forecast": d.time_by_scope("model", True),
              "t_ar": allreduce[0], "t_ar_forecast": allreduce[1], "t_send": s, "t_send_forecast": sf,
              "overhead": overhead}
    return tuple(evaluate_figures(_CYCLE, values))
