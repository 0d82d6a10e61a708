"""FlashAttention's HBM traffic (Dao et al. 2022, section 3.2 / Theorem 2; FlashAttention-2).

The kernel keeps S and P in SRAM. Q is read once, O (and the row log-sum-exp) written once;
K and V are re-read once per query tile (FlashAttention-2's loop order), and a causal mask lets
the kernel skip the tiles wholly above the diagonal (or wholly outside a sliding window).
Tiles are sized from the SRAM M of one SM so that a Q, K, V and O tile of B rows fit:
4 * B * d elements = M, so B_r = B_c = M / (4 d) (rounded down to a multiple of 16). K/V
traffic is then (N / B_r) * N * d = 4 N^2 d^2 / M: the papers' Theta(N^2 d^2 / M).
Query heads sharing a KV head are packed into one tile (GQA), so K/V are loaded once per KV
head per tile of B_r // g positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SRAM_BYTES = 164 * 1024  # an A100 SM, when a profile gives none


@dataclass(frozen=True, slots=True)
class Tiles:
    rows: int  # B_r: query rows per tile (all packed heads)
    cols: int  # B_c: key/value rows per tile


def tile_sizes(sram_bytes: float, head_dim: int, bytes_per_element: float) -> Tiles:
    """B_r = B_c = floor(M / (4 d)) with M in elements; a multiple of 16, at least 16."""
    elements = sram_bytes / bytes_per_element
    size = max(16, int(elements // (4 * head_dim)) // 16 * 16)
    return Tiles(rows=size, cols=size)


@dataclass(frozen=True, slots=True)
class Visits:
    query_tiles: int  # T_r
    kv_rows_loaded: int  # R: K/V rows loaded per KV head, summed over query tiles
    scores: int  # E: score elements computed per query head (whole tiles, masked parts included)


def causal_visits(q_len: int, kv_len: int, positions_per_tile: int, cols: int, window: int | None = None,
                  causal: bool = True) -> Visits:
    """Exact tile geometry of a causal pass of q_len queries over kv_len keys, the queries being
    the last q_len positions (a cached prefix or chunked prefill when kv_len > q_len)."""
    offset = kv_len - q_len
    tiles = math.ceil(q_len / positions_per_tile)
    loaded = scores = 0
    for i in range(tiles):
        first, last = i * positions_per_tile, min((i + 1) * positions_per_tile, q_len) - 1
        hi = offset + last + 1 if causal else kv_len  # keys visible to the tile's last query
        lo = max(0, offset + first - window + 1) if window else 0
        start, end = (lo // cols) * cols, min(math.ceil(hi / cols) * cols, kv_len)
        loaded += end - start
        scores += (last - first + 1) * (end - start)
    return Visits(tiles, loaded, scores)


def decode_splits(batch: int, kv_heads: int, kv_len: int, sm_count: int, d_v: int) -> int:
    """Split-KV ("flash-decoding") chunks per sequence and KV head: enough blocks to fill the
    SMs twice over, each chunk at least max(256, 2 (d_v + 1)) keys so its partial output costs
    less than the S/P traffic it saves."""
    chunk_min = max(256, 2 * (d_v + 1))
    want = math.ceil(2 * sm_count / (batch * kv_heads))
    return max(1, min(want, kv_len // chunk_min))
