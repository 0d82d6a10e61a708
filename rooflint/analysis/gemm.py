"""One matmul [M, K] x [K, N] -> [M, N] (seed 000's intensities)."""

from __future__ import annotations

from rooflint.analysis.ops import MATMUL, Op, make_op
from rooflint.dtypes import DType


def gemm_op(m: int, n: int, k: int, dt: DType, batch: int = 1) -> Op:
    """FLOPs 2*M*N*K; reads A and B once, writes C once."""
    s = {"M": m, "N": n, "K": k, "G": batch, "b": dt.bytes}
    return make_op("gemm", "model", 1, MATMUL, dt.peak_key, s,
                   flops="2*G*M*N*K", read="G*(M*K + K*N)*b", write="G*M*N*b")


def inputs_only_intensity(op: Op) -> float:
    """FLOPs / bytes read, the convention of seed 000's '0.5 m' for a square matmul."""
    return op.flops / op.bytes_read
