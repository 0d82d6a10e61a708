"""Mixture-of-experts MLP: router, the routed experts a batch actually hits, shared experts.

With uniform routing each token picks k of E experts, so after T tokens an expert is untouched
with probability (1 - k/E)^T: the expected number of distinct experts whose weights a pass
reads is E_hit = E * (1 - (1 - k/E)^T). Decode weight traffic therefore grows with the batch
until every expert is touched. The router's weight stays unquantized (b_h), as quantized MoE
checkpoints keep it.
"""

from __future__ import annotations

from rooflint.analysis.blocks import ACT_FLOP_PER_ELEMENT, D, T, b_a, b_h, b_w, mlp
from rooflint.analysis.expr import Expr, sym
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model

E, k, F_e, S_e, E_hit = sym("E k F_e S_e E_hit")
EXPECTED_EXPERTS_HIT: Expr = E * (1 - (1 - k / E) ** T)
"""E * (1 - (1 - k/E)^T): distinct experts chosen by T tokens under uniform top-k routing."""


def expected_experts_hit(experts: int, top_k: int, tokens: int) -> float:
    return EXPECTED_EXPERTS_HIT.evaluate({"E": experts, "k": top_k, "T": tokens})


def constants(m: Model) -> dict[str, int]:
    return {"E": m.num_experts, "k": m.num_experts_per_tok, "F_e": m.moe_intermediate_size,
            "S_e": m.num_shared_experts}


def moe_ops(m: Model, count: int, mm: str) -> list[OpForm]:
    c = ACT_FLOP_PER_ELEMENT["gated"]
    hit = (("E_hit", EXPECTED_EXPERTS_HIT),)
    ops = [op("router", "layer", count, MATMUL, mm, flops=2 * T * D * E, read=D * E * b_h + T * D * b_a,
              write=T * E * b_a, note="router logits (its weight unquantized)"),
           op("experts_gate_up", "layer", count, MATMUL, mm, defs=hit, flops=2 * T * k * D * 2 * F_e,
              read=E_hit * 2 * D * F_e * b_w + T * k * D * b_a, write=T * k * 2 * F_e * b_a,
              note="weights of the E_hit experts the batch is expected to hit (uniform routing)"),
           op("experts_act_mul", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=c * T * k * F_e,
              read=2 * T * k * F_e * b_a, write=T * k * F_e * b_a),
           op("experts_down", "layer", count, MATMUL, mm, defs=hit, flops=2 * T * k * F_e * D,
              read=E_hit * F_e * D * b_w + T * k * F_e * b_a, write=T * k * D * b_a),
           op("experts_combine", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=2 * T * k * D,
              read=T * k * D * b_a, write=T * D * b_a, note="weighted sum of the k outputs")]
    if m.num_shared_experts:
        ops += mlp(m.mlp, m.hidden_act, count, mm, width=S_e * F_e, bias=m.mlp_bias, prefix="shared_")
    return ops
