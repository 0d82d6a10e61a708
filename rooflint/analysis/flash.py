"""FlashAttention's HBM traffic (Dao et al. 2022, section 3.2 / Theorem 2; FlashAttention-2), in
closed form.

The kernel keeps S and P in SRAM. Q is read once, O (and the fp32 row log-sum-exp) written once;
K and V are loaded once per query tile (FlashAttention-2's loop order), and a causal mask lets
the kernel skip the tiles wholly above the diagonal (or wholly outside a sliding window).

The bound charges HBM with the compulsory traffic only: Q, K and V read once, O and the LSE
written once. The tile re-loads (R rows per KV head, below) are served by the L2 on current GPUs:
TensorRT-LLM's causal attention at N = 16384, 32 heads of 256 runs in 7.94 ms on an H100, where
charging every re-load to HBM gave 12.08 ms, and across 5,661 measured context-attention rows
(shared/reference/measured, aiconfigurator) none beats the compulsory bound (the closest at 1.12x). Tiles
are sized from the SRAM M of one SM so that a Q, K, V and O tile of B rows fit: 4 B d elements
= M, B_r = B_c = M / (4 d) rounded down to a multiple of 16. Query heads sharing a KV head are
packed into one tile (GQA): p = max(1, B_r // g) positions per tile for g heads per KV head.

Tile geometry of S_q queries, the last of C keys (o = C - S_q cached before them), p positions
per query tile, c = B_c keys per K/V tile, window W. Query tile i (of T_r = ceil(S_q / p))
covers queries i*p .. e_i - 1 with e_i = min((i + 1) p, S_q); it loads the K/V tiles from
start_i = c floor(max(0, o + i p - W + 1) / c) to end_i = min(c ceil((o + e_i) / c), C). Summed:

    R   = sum_i (end_i - start_i)                K/V rows loaded per KV head
    N_s = sum_i (e_i - i p) (end_i - start_i)    score elements computed per query head

The sums of ceilings are floor_sums (one Euclid-like reduction each), so R and N_s are exact
expressions; tests hold them to the tile-by-tile count. K/V traffic is then ~ (N / B_r) N d =
4 N^2 d^2 / M, the papers' Theta(N^2 d^2 / M).

Decode runs split-KV ("flash-decoding"): n_split chunks per sequence and KV head, enough blocks
to fill the SMs twice over, each chunk at least max(256, 2 (d_v + 1)) keys so that its fp32
partial output costs less than the S/P traffic it saves; a second kernel reduces the partials.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.attention import (
    SOFTMAX_FLOP_PER_ELEMENT,
    B,
    H_kv,
    H_q,
    S_kv,
    S_q,
    b_a,
    b_k,
    d,
    d_v,
)
from rooflint.analysis.expr import Expr, ceil, emax, emin, floor, floor_sum, sym
from rooflint.analysis.forecast import attention_tiling
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY

C, p, B_c, W = sym("C p B_c W")
T_r, R, N_s, n_split, split, sm = sym("T_r R N_s n_split split sm")


@dataclass(frozen=True, slots=True)
class Tiles:
    rows: int  # B_r: query rows per tile (all packed heads)
    cols: int  # B_c: key/value rows per tile


def tile_sizes(sram_bytes: float, head_dim: int, bytes_per_element: float) -> Tiles:
    """B_r = B_c = floor(M / (4 d)) with M in elements; a multiple of 16, at least 16."""
    elements = sram_bytes / bytes_per_element
    size = max(16, int(elements // (4 * head_dim)) // 16 * 16)
    return Tiles(rows=size, cols=size)


def geometry(window: bool, causal: bool) -> tuple[tuple[str, Expr], ...]:
    """The derived symbols T_r, R, N_s of the module docstring, in terms of S_q, C, p, B_c (and W)."""
    o = C - S_q
    rho = S_q - (T_r - 1) * p  # queries in the last tile
    defs: list[tuple[str, Expr]] = [("T_r", ceil(S_q / p))]
    if causal:
        # the first J full tiles end inside the keys; the others (and the last) load up to C
        J = emin(emax(floor((B_c * (ceil(C / B_c) - 1) - o) / p), 0), T_r - 1)
        r_end = B_c * floor_sum(J, B_c, p, o + p + B_c - 1) + (T_r - J) * C
        s_end = p * (r_end - C) + rho * C
    else:
        r_end, s_end = T_r * C, S_q * C
    if window:
        # the first I0 tiles start at key 0; the later ones at their window's first K/V tile
        I0 = emin(emax(floor((W - 1 - o) / p) + 1, 0), T_r)
        r_start = B_c * floor_sum(T_r - I0, B_c, p, emax(p * I0 + o - W + 1, 0))
        last_start = B_c * floor(emax(o + (T_r - 1) * p - W + 1, 0) / B_c)
        defs += [("R", r_end - r_start), ("N_s", s_end - (p * r_start - (p - rho) * last_start))]
    else:
        defs += [("R", r_end), ("N_s", s_end)]
    return tuple(defs)


def prefill_op(count: int, mm: str, tile: Tiles, groups: int, window: int | None, causal: bool,
               head_defs: tuple = (), shared_kv: bool = False, head_dim: int = 128) -> OpForm:
    """One fused kernel per layer over the prompt's queries and all C keys."""
    per_tile = max(1, tile.rows // groups)
    shape = tuple((n, e) for n, e in geometry(bool(window), causal) if n != "R")  # R: L2 traffic, not HBM
    defs = (*head_defs, ("p", per_tile), ("B_c", tile.cols), *((("W", window),) if window else ()), *shape)
    d_kv = d if shared_kv else d + d_v  # MLA's latent holds V inside K: loaded once
    return op("flash_attention", "layer", count, MATMUL, mm, defs=defs,
              flops=2 * B * H_q * N_s * (d + d_v) + SOFTMAX_FLOP_PER_ELEMENT * B * H_q * N_s,
              read=B * H_q * S_q * d * b_a + B * H_kv * C * d_kv * b_k,
              write=B * H_q * S_q * d_v * b_a + 4 * B * H_q * S_q,
              footprint=B * H_q * S_q * d * b_a + B * H_kv * C * d_kv * b_k + B * H_q * S_q * d_v * b_a
              + 4 * B * H_q * S_q, tiling=attention_tiling(S_q, B * H_q, head_dim),
              note=f"fused{', causal tiles skipped' if causal else ''}: T_r query tiles of p={per_tile} positions x "
                   f"{groups} heads (B_r={tile.rows}, B_c={tile.cols}); N_s = scores computed per head; HBM: Q, K, V "
                   "read once (the tiles' re-loads hit the L2), O and fp32 log-sum-exp written")


def decode_ops(count: int, mm: str, head_defs: tuple = (), shared_kv: bool = False) -> list[OpForm]:
    """Split-KV decode and its reduction (present only when the keys are split)."""
    chunk = emax(256, 2 * (d_v + 1))
    defs = (*head_defs, ("n_split", emax(1, emin(ceil(2 * sm / (B * H_kv)), floor(S_kv / chunk)))),
            ("split", emin(n_split - 1, 1)))
    d_kv = d if shared_kv else d + d_v
    partial = B * H_q * n_split * (d_v + 1) * 4  # fp32 partial outputs and log-sum-exps
    return [
        op("flash_decode", "layer", count, MATMUL, mm, defs=defs,
           flops=2 * B * H_q * S_kv * (d + d_v) + SOFTMAX_FLOP_PER_ELEMENT * B * H_q * S_kv,
           read=B * H_q * d * b_a + B * H_kv * S_kv * d_kv * b_k,
           write=split * partial + (1 - split) * B * H_q * d_v * b_a,
           note="split-KV over n_split chunks (split = 1 when n_split > 1: fp32 partial outputs + LSE); "
                "K/V read once per KV head, the query heads of a group packed"),
        op("flash_decode_reduce", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, defs=defs, present=split,
           flops=split * 3 * B * H_q * n_split * (d_v + 1), read=split * partial, write=split * B * H_q * d_v * b_a,
           note="combines the split partials with their log-sum-exps; runs only when split = 1"),
    ]
