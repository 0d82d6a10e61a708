"""One matmul [M, K] x [K, N] -> [M, N], G of them (seed 000's intensities)."""

from __future__ import annotations

from rooflint.analysis.expr import sym
from rooflint.analysis.forecast import gemm_tiling
from rooflint.analysis.ops import MATMUL, Op, OpForm, evaluate_op, op
from rooflint.dtypes import DType

M, N, K, G, b = sym("M N K G b")


def gemm_form(peak_key: str, name: str = "gemm") -> OpForm:
    """FLOPs 2*G*M*N*K; reads A and B once, writes C once."""
    return op(name, "model", 1, MATMUL, peak_key, flops=2 * G * M * N * K, read=G * (M * K + K * N) * b,
              write=G * M * N * b, tiling=gemm_tiling(M, N, K, G))


def gemm_op(m: int, n: int, k: int, dt: DType, batch: int = 1) -> Op:
    return evaluate_op(gemm_form(dt.peak_key), {"M": m, "N": n, "K": k, "G": batch, "b": dt.bytes})
