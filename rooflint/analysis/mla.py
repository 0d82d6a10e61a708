"""Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434 section 2.1; V3).

K and V come from a compressed latent c_KV (kv_lora_rank) plus a decoupled RoPE key shared by
all heads (qk_rope_head_dim). Two ways to run it:
- naive (as the Hugging Face implementation caches it): kv_b_proj decompresses the latent into
  per-head K (nope + rope) and V, which are cached; attention is plain multi-head attention.
- absorbed (what serving engines run in decode): W_UK is folded into the query and W_UV into
  the output, attention runs in latent space over one shared latent "KV head" of
  kv_lora_rank + rope dims, and only the latent is cached. Prefill still decompresses the
  prompt's latents (fewer FLOPs at long query lengths, as vLLM does).
"""

from __future__ import annotations

from rooflint.analysis.kv_cache import ABSORBED
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, MEMORY, Op, make_op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model


def attention_block(m: Model, p, s: dict, mm: str, g, opts) -> list[Op]:
    from rooflint.analysis.transformer import _linear, _norm, core_attention, rope_op

    L = g.count
    s = {**s, "r_q": m.q_lora_rank or 0, "r_kv": m.kv_lora_rank, "d_n": m.qk_nope_head_dim,
         "d_r": m.qk_rope_head_dim, "d_vh": m.v_head_dim}
    ops: list[Op] = []
    if m.q_lora_rank:
        ops += [_linear("q_a_proj", L, mm, s, "D", "r_q", False), _norm("q_a_norm", L, "rmsnorm", s, "r_q"),
                _linear("q_b_proj", L, mm, s, "r_q", "H_q*(d_n + d_r)", False)]
    else:
        ops.append(_linear("q_proj", L, mm, s, "D", "H_q*(d_n + d_r)", False))
    ops += [_linear("kv_a_proj", L, mm, s, "D", "(r_kv + d_r)", False), _norm("kv_a_norm", L, "rmsnorm", s, "r_kv"),
            rope_op(L, s, "(H_q*d_r + d_r)")]
    latent_cache = opts.mla_mode == ABSORBED
    if latent_cache:
        ops.append(make_op("kv_cache_append", "layer", L, MEMORY, VECTOR_PEAK_KEY, s,
                           read="T*(r_kv + d_r)*b_a", write="T*(r_kv + d_r)*b_kv",
                           note="the latent c_KV and the shared RoPE key stored"))
    if latent_cache and p.phase == "decode":
        ops.append(make_op("q_absorb", "layer", L, MATMUL, mm, s,
                           flops="2*T*H_q*d_n*r_kv", read="H_q*d_n*r_kv*b_w + T*H_q*d_n*b_a",
                           write="T*H_q*r_kv*b_a", note="q_nope x W_UK: the query in latent space"))
        latent = {**s, "H_kv": 1, "d": m.kv_lora_rank + m.qk_rope_head_dim, "d_v": m.kv_lora_rank}
        ops += core_attention(p, latent, mm, g, opts, shared_kv=True)
        ops.append(make_op("out_absorb", "layer", L, MATMUL, mm, s,
                           flops="2*T*H_q*r_kv*d_vh", read="H_q*r_kv*d_vh*b_w + T*H_q*r_kv*b_a",
                           write="T*H_q*d_vh*b_a", note="latent output x W_UV, per head"))
    else:
        ops.append(_linear("kv_b_proj", L, mm, s, "r_kv", "H_q*(d_n + d_vh)", False))
        if not latent_cache:
            ops.append(make_op("kv_cache_append", "layer", L, MEMORY, VECTOR_PEAK_KEY, s,
                               read="T*H_q*(d_n + d_r + d_vh)*b_a", write="T*H_q*(d_n + d_r + d_vh)*b_kv",
                               note="decompressed per-head K and V stored (Hugging Face's cache)"))
        mha = {**s, "H_kv": m.num_attention_heads, "d": m.qk_nope_head_dim + m.qk_rope_head_dim, "d_v": m.v_head_dim}
        ops += core_attention(p, mha, mm, g, opts)
    ops.append(_linear("o_proj", L, mm, s, "H_q*d_vh", "D", False))
    return ops
