"""Mixture-of-experts MLP: router, the routed experts a batch actually hits, shared experts.

With uniform routing each token picks k of E experts, so after T tokens an expert is untouched
with probability (1 - k/E)^T: the expected number of distinct experts whose weights a pass
reads is E_hit = E * (1 - (1 - k/E)^T). Decode weight traffic therefore grows with the batch
until every expert is touched.
"""

from __future__ import annotations

from rooflint.analysis.ops import ELEMENTWISE, MATMUL, Op, make_op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model


def expected_experts_hit(experts: int, top_k: int, tokens: int) -> float:
    """E * (1 - (1 - k/E)^T): distinct experts chosen by T tokens under uniform top-k routing."""
    return experts * (1 - (1 - top_k / experts) ** tokens)


def moe_ops(m: Model, s: dict, mm: str, L: int) -> list[Op]:
    from rooflint.analysis.transformer import ACT_FLOP_PER_ELEMENT, _linear, mlp_ops

    E, k = m.num_experts, m.num_experts_per_tok
    s = {**s, "E": E, "k": k, "F_e": m.moe_intermediate_size, "S_e": m.num_shared_experts,
         "E_hit": expected_experts_hit(E, k, int(s["T"]))}
    c = ACT_FLOP_PER_ELEMENT["gated"]
    ops = [_linear("router", L, mm, s, "D", "E", False),
           make_op("experts_gate_up", "layer", L, MATMUL, mm, s,
                   flops="2*T*k*D*2*F_e", read="E_hit*2*D*F_e*b_w + T*k*D*b_a", write="T*k*2*F_e*b_a",
                   note="weights of the E_hit experts the batch is expected to hit (uniform routing)"),
           make_op("experts_act_mul", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops=f"{c}*T*k*F_e", read="2*T*k*F_e*b_a", write="T*k*F_e*b_a"),
           make_op("experts_down", "layer", L, MATMUL, mm, s,
                   flops="2*T*k*F_e*D", read="E_hit*F_e*D*b_w + T*k*F_e*b_a", write="T*k*D*b_a"),
           make_op("experts_combine", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops="2*T*k*D", read="T*k*D*b_a", write="T*D*b_a", note="weighted sum of the k outputs")]
    if m.num_shared_experts:
        ops += mlp_ops(m, s, mm, L, width="S_e*F_e", prefix="shared_")
    return ops
