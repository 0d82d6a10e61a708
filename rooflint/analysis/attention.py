"""Standard (eager) attention: the three kernels of seed 004, and its memory (Q/K/V/O vs S and P).

S = QK^T/sqrt(d) is written to memory, P = softmax(S) read and written, O = PV; the full
S_q x S_kv score matrix is computed (a causal mask lets an eager kernel skip nothing). K and V
are read once per KV head (GQA/MQA), not once per query head.

Symbols: B batch, H_q / H_kv query / KV heads, S_q queries and S_kv keys per sequence, d and
d_v the key and value head dims, b_a bytes per activation, b_k bytes per K/V element read
(the activations' in a prefill, the cache's in a decode step).
"""

from __future__ import annotations

from rooflint.analysis.expr import Expr, sym
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.analysis.terms import figure
from rooflint.dtypes import VECTOR_PEAK_KEY

SOFTMAX_FLOP_PER_ELEMENT = 5  # max, subtract, exp, sum, divide (seed 004)

B, S_q, S_kv, H_q, H_kv, d, d_v, b_a, b_k = sym("B S_q S_kv H_q H_kv d d_v b_a b_k")
N = sym("N")

# seed 004: one sequence of N tokens, h heads of dim d, batch b (symbols B, H_q here)
QKVO_BYTES: Expr = 4 * B * H_q * N * d * b_a
"""Q, K, V and O: 4 * B * H_q * N * d * b_a."""
SP_BYTES: Expr = 2 * B * H_q * S_q * S_kv * b_a
"""S and P of one layer's eager attention: each B * H_q * S_q * S_kv elements."""


def eager_ops(count: int, mm: str, defs: tuple = (), shared_kv: bool = False) -> list[OpForm]:
    """QK^T, softmax, PV with S and P through memory."""
    scores = B * H_q * S_q * S_kv
    return [
        op("qk_matmul", "layer", count, MATMUL, mm, defs=defs,
           flops=2 * scores * d, read=B * H_q * S_q * d * b_a + B * H_kv * S_kv * d * b_k, write=scores * b_a,
           note="S = QK^T/sqrt(d) written to memory; K read once per KV head"),
        op("softmax", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, defs=defs,
           flops=SOFTMAX_FLOP_PER_ELEMENT * scores, read=scores * b_a, write=scores * b_a,
           note="P = softmax(S): reads S, writes P"),
        op("pv_matmul", "layer", count, MATMUL, mm, defs=defs,
           flops=2 * scores * d_v, read=scores * b_a + B * H_kv * S_kv * d_v * b_k, write=B * H_q * S_q * d_v * b_a,
           note="O = PV; V read once per KV head" + (" (V is the latent read again)" if shared_kv else "")),
    ]


SP_SHARE: Expr = sym("sp_bytes") / (sym("sp_bytes") + sym("qkvo_bytes"))
"""S+P as a share of all attention tensors."""


def memory_figures(prefix: str) -> list:
    """Seed 004's figures for one sequence length N (S_q = S_kv = N)."""
    return [figure(f"{prefix}.qkvo_bytes", QKVO_BYTES, "bytes", "Q, K, V and O"),
            figure(f"{prefix}.sp_bytes", SP_BYTES, "bytes", "S and P, each N x N per head"),
            figure(f"{prefix}.sp_share", SP_SHARE, "fraction", "S+P / (S+P + Q/K/V/O)")]
