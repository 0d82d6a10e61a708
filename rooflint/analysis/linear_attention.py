"""Gated DeltaNet linear attention (Qwen3-Next; Yang et al. 2024, "Gated Delta Networks"), as
transformers' Qwen3NextGatedDeltaNet runs it: no KV cache, a recurrent state per sequence.

Per layer: in_proj_qkvz (D -> 2 n_k d_k + 2 n_v d_v), in_proj_ba (D -> 2 n_v), a causal depthwise
conv of kernel K over q, k, v (conv_dim = 2 n_k d_k + n_v d_v channels, SiLU), the gated delta
rule per value head with a d_k x d_v state S, a gated RMSNorm, out_proj (n_v d_v -> D).

State per sequence and layer (constant in the context): the conv state, conv_dim x K in the
activations' type (HF keeps K columns), and S for n_v heads in fp32 (b_st = 4: the torch
recurrences and FLA return an fp32 state). FLOPs of the rule per token and value head
(torch_recurrent_gated_delta_rule): decay d_k d_v, S^T k 2 d_k d_v, the rank-1 update 2 d_k d_v,
S^T q 2 d_k d_v: 7 d_k d_v. The chunked prefill form (torch_chunk_gated_delta_rule, chunk c = 64)
costs 6 d_k d_v + c (6 d_k + 4 d_v) + 2 c^2 / 3 per token and head, and reads and writes S once.
"""

from __future__ import annotations

from rooflint.analysis.blocks import D, Kernels, T, b_a, b_h, linear
from rooflint.analysis.expr import sym
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY
from rooflint.specs import Model

B, n_k, n_v, d_k, d_lv, K_c, b_st, c_l = sym("B n_k n_v d_k d_lv K_c b_st c_l")
STATE_BYTES_PER_ELEMENT = 4  # fp32 recurrent state
PREFILL_CHUNK = 64  # torch_chunk_gated_delta_rule's chunk_size
GATED_NORM_FLOP_PER_ELEMENT = 8  # RMSNorm (4) times silu(z) (4)
conv_dim = 2 * n_k * d_k + n_v * d_lv
STATE_ELEMENTS = n_v * d_k * d_lv  # one layer's S per sequence
STATE_BYTES = conv_dim * K_c * b_a + STATE_ELEMENTS * b_st
"""One linear-attention layer's state per sequence: conv_dim x K activations + n_v d_k d_v fp32."""


def constants(m: Model) -> dict[str, float]:
    return {"n_k": m.linear_num_key_heads, "n_v": m.linear_num_value_heads, "d_k": m.linear_key_head_dim,
            "d_lv": m.linear_value_head_dim, "K_c": m.linear_conv_kernel_dim, "b_st": STATE_BYTES_PER_ELEMENT,
            "c_l": PREFILL_CHUNK}


def block(k: Kernels, count: int) -> list[OpForm]:
    mm = k.mm_of("attention")
    decode = k.phase == "decode"
    state = B * STATE_ELEMENTS * b_st
    conv_state = B * conv_dim * K_c * b_a
    qkv = T * conv_dim * b_a
    if decode:
        rule = op("gated_delta_rule", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY,
                  flops=7 * T * n_v * d_k * d_lv, read=state + qkv + 2 * T * n_v * b_a,
                  write=state + T * n_v * d_lv * b_a,
                  note="recurrent step: S read and written (fp32), 7 d_k d_v FLOP per value head")
    else:
        per_token = 6 * d_k * d_lv + c_l * (6 * d_k + 4 * d_lv) + 2 * c_l * c_l / 3
        rule = op("gated_delta_rule", "layer", count, MATMUL, k.mm, flops=T * n_v * per_token,
                  read=qkv + 2 * T * n_v * b_a, write=state + T * n_v * d_lv * b_a,
                  note=f"chunked form (chunk {PREFILL_CHUNK}); the final state S written once (fp32)")
    return [
        linear("in_proj_qkvz", count, mm, D, 2 * n_k * d_k + 2 * n_v * d_lv, False),
        linear("in_proj_ba", count, mm, D, 2 * n_v, False),
        op("conv1d", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=2 * K_c * T * conv_dim,
           read=qkv + conv_dim * K_c * b_h + (conv_state if decode else 0),
           write=qkv + conv_state, note="causal depthwise conv + SiLU over q, k, v; its last K inputs kept"),
        rule,
        op("gated_norm", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY,
           flops=GATED_NORM_FLOP_PER_ELEMENT * T * n_v * d_lv, read=2 * T * n_v * d_lv * b_a + d_lv * b_h,
           write=T * n_v * d_lv * b_a, note="RMSNorm(o) * silu(z) per value head"),
        linear("out_proj", count, mm, n_v * d_lv, D, False),
    ]
