"""Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434 section 2.1; V3).

K and V come from a compressed latent c_KV (kv_lora_rank r_kv) plus a decoupled RoPE key shared
by all heads (qk_rope_head_dim d_r). Two ways to run it:
- naive (as the Hugging Face implementation caches it): kv_b_proj decompresses the latent into
  per-head K (d_n + d_r) and V (d_vh), which are cached; attention is plain multi-head attention.
- absorbed (what serving engines run in decode): W_UK is folded into the query and W_UV into
  the output, attention runs in latent space over one shared latent "KV head" of r_kv + d_r
  dims, and only the latent is cached. Prefill still decompresses the prompt's latents (fewer
  FLOPs at long query lengths, as vLLM does).
- expand: only the latent is cached, and every pass re-expands the whole cache through kv_b_proj
  (B*C rows, not the T new ones) before plain multi-head attention over the expanded K and V.
  This is what vLLM's MLA prefill does over a cached context, and what a decode step costs
  without absorption: a DeepSeek-V3 step at 1,024 keys runs ~2.1 TFLOP of kv_b_proj alone.
  (transformers 4.5x caches the decompressed K and V instead: that is "naive".)
"""

from __future__ import annotations

from rooflint.analysis.blocks import (
    Kernels,
    T,
    b_a,
    b_wa,
    core_attention,
    linear,
    norm,
    rope,
)
from rooflint.analysis.expr import sym
from rooflint.analysis.ops import MATMUL, MEMORY, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model

D, H_q, r_q, r_kv, d_n, d_r, d_vh, b_kv, b_k, B, C = sym("D H_q r_q r_kv d_n d_r d_vh b_kv b_k B C")
ABSORBED, NAIVE, EXPAND = "absorbed", "naive", "expand"


def constants(m: Model) -> dict[str, int]:
    return {"r_q": m.q_lora_rank or 0, "r_kv": m.kv_lora_rank, "d_n": m.qk_nope_head_dim,
            "d_r": m.qk_rope_head_dim, "d_vh": m.v_head_dim}


def attention_block(m: Model, k: Kernels, count: int, window: int | None, mla_mode: str) -> list[OpForm]:
    mm = k.mm_of("attention")
    ops: list[OpForm] = []
    if m.q_lora_rank:
        ops += [linear("q_a_proj", count, mm, D, r_q, False), norm("q_a_norm", count, "rmsnorm", r_q),
                linear("q_b_proj", count, mm, r_q, H_q * (d_n + d_r), False)]
    else:
        ops.append(linear("q_proj", count, mm, D, H_q * (d_n + d_r), False))
    ops += [linear("kv_a_proj", count, mm, D, r_kv + d_r, False), norm("kv_a_norm", count, "rmsnorm", r_kv),
            rope(count, H_q * d_r + d_r)]
    latent_cache = mla_mode in (ABSORBED, EXPAND)
    if latent_cache:
        ops.append(op("kv_cache_append", "layer", count, MEMORY, VECTOR_PEAK_KEY,
                      read=T * (r_kv + d_r) * b_a, write=T * (r_kv + d_r) * b_kv,
                      note="the latent c_KV and the shared RoPE key stored"))
    if mla_mode == EXPAND:
        rows = B * C
        ops.append(op("kv_b_proj", "layer", count, MATMUL, k.mm_of("attention"),
                      flops=2 * rows * r_kv * H_q * (d_n + d_vh),
                      read=r_kv * H_q * (d_n + d_vh) * b_wa + rows * r_kv * b_k,
                      write=rows * H_q * (d_n + d_vh) * b_a,
                      note="the whole cache's latents re-expanded to per-head K (nope part) and V, every pass"))
        mha = (("H_kv", H_q), ("d", d_n + d_r), ("d_v", d_vh), ("b_k", b_a))
        ops += core_attention(k, count, window, 1, m.qk_nope_head_dim + m.qk_rope_head_dim, mha)
    elif latent_cache and k.phase == "decode":
        ops.append(op("q_absorb", "layer", count, MATMUL, mm, flops=2 * T * H_q * d_n * r_kv,
                      read=H_q * d_n * r_kv * b_wa + T * H_q * d_n * b_a, write=T * H_q * r_kv * b_a,
                      note="q_nope x W_UK: the query in latent space"))
        latent = (("H_kv", 1), ("d", r_kv + d_r), ("d_v", r_kv))
        ops += core_attention(k, count, window, m.num_attention_heads, m.kv_lora_rank + m.qk_rope_head_dim,
                              latent, shared_kv=True)
        ops.append(op("out_absorb", "layer", count, MATMUL, mm, flops=2 * T * H_q * r_kv * d_vh,
                      read=H_q * r_kv * d_vh * b_wa + T * H_q * r_kv * b_a, write=T * H_q * d_vh * b_a,
                      note="latent output x W_UV, per head"))
    else:
        ops.append(linear("kv_b_proj", count, mm, r_kv, H_q * (d_n + d_vh), False))
        if not latent_cache:
            ops.append(op("kv_cache_append", "layer", count, MEMORY, VECTOR_PEAK_KEY,
                          read=T * H_q * (d_n + d_r + d_vh) * b_a, write=T * H_q * (d_n + d_r + d_vh) * b_kv,
                          note="decompressed per-head K and V stored (Hugging Face's cache)"))
        mha = (("H_kv", H_q), ("d", d_n + d_r), ("d_v", d_vh))
        ops += core_attention(k, count, window, 1, m.qk_nope_head_dim + m.qk_rope_head_dim, mha)
    ops.append(linear("o_proj", count, mm, H_q * d_vh, D, False))
    return ops

