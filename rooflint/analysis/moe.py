"""Mixture-of-experts MLP: router, the routed experts a batch actually hits, shared experts.

With uniform routing each token picks k of E experts, so after T tokens an expert is untouched
with probability (1 - k/E)^T: the expected number of distinct experts whose weights a pass
reads is E_hit = E * (1 - (1 - k/E)^T). Decode weight traffic therefore grows with the batch
until every expert is touched. The router's weight stays unquantized (b_h), as quantized MoE
checkpoints keep it.
"""

from __future__ import annotations

from rooflint.analysis.blocks import ACT_FLOP_PER_ELEMENT, D, Kernels, T, b_a, b_h, b_we, b_ws, mlp
from rooflint.analysis.expr import Expr, sym
from rooflint.analysis.forecast import gemm_tiling
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model

E, k, F_e, S_e, F_s, E_hit, E_r = sym("E k F_e S_e F_s E_hit E_r")
EXPECTED_EXPERTS_HIT: Expr = E * (1 - (1 - k / E) ** T)
"""E * (1 - (1 - k/E)^T): distinct experts chosen by T tokens under uniform top-k routing."""


def expected_experts_hit(experts: int, top_k: int, tokens: int) -> float:
    return EXPECTED_EXPERTS_HIT.evaluate({"E": experts, "k": top_k, "T": tokens})


def constants(m: Model) -> dict[str, int]:
    return {"E": m.num_experts, "E_r": m.router_experts or m.num_experts, "k": m.num_experts_per_tok,
            "F_e": m.moe_intermediate_size,
            "S_e": m.num_shared_experts, "F_s": m.shared_width}


def moe_ops(m: Model, count: int, kernels: Kernels) -> list[OpForm]:
    """Router, the routed experts (gate and up as one grouped GEMM), the combine, shared experts."""
    c = ACT_FLOP_PER_ELEMENT["gated"]
    hit = (("E_hit", EXPECTED_EXPERTS_HIT),)
    mm, mm_e = kernels.mm, kernels.mm_of("experts")
    router_bias = E_r * b_h if m.router_bias else 0
    gate_up_bias, down_bias = (2 * F_e * b_h, D * b_h) if m.expert_bias else (0, 0)
    ops = [op("router", "layer", count, MATMUL, mm, flops=2 * T * D * E_r + (T * E_r if m.router_bias else 0),
              read=D * E_r * b_h + router_bias + T * D * b_a, write=T * E_r * b_a, note="router logits (its weight unquantized)" + (", with a bias per expert"
                                                                                 if m.router_bias else "")),
           op("experts_gate_up", "layer", count, MATMUL, mm_e, defs=hit,
              flops=2 * T * k * D * 2 * F_e + (T * k * 2 * F_e if m.expert_bias else 0),
              read=E_hit * (2 * D * F_e * b_we + gate_up_bias) + T * k * D * b_a, write=T * k * 2 * F_e * b_a,
              tiling=gemm_tiling(T * k / E_hit, 2 * F_e, D, E_hit),
              note="weights of the E_hit experts the batch is expected to hit (uniform routing)"),
           op("experts_act_mul", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=c * T * k * F_e,
              read=2 * T * k * F_e * b_a, write=T * k * F_e * b_a,
              note="clamped SwiGLU (gpt-oss)" if m.model_type == "gpt_oss" else ""),
           op("experts_down", "layer", count, MATMUL, mm_e, defs=hit,
              flops=2 * T * k * F_e * D + (T * k * D if m.expert_bias else 0),
              read=E_hit * (F_e * D * b_we + down_bias) + T * k * F_e * b_a, write=T * k * D * b_a,
              tiling=gemm_tiling(T * k / E_hit, D, F_e, E_hit)),
           op("experts_combine", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=2 * T * k * D,
              read=T * k * D * b_a, write=T * D * b_a, note="weighted sum of the k outputs")]
    if m.shared_width:
        ops += mlp(m.mlp, m.hidden_act, count, kernels.mm_of("shared_experts"), width=F_s, bias=m.mlp_bias,
                   prefix="shared_", w=b_ws)
    if m.shared_expert_gate:
        ops.append(op("shared_expert_gate", "layer", count, MATMUL, mm, flops=2 * T * D + T * D,
                      read=D * b_h + 2 * T * D * b_a, write=T * D * b_a,
                      note="sigmoid(x w) scales the shared expert's output (D -> 1, then a multiply)"))
    return ops
