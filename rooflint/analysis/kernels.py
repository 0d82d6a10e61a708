"""The analyzer's ops for each kernel `rooflint measure` times, so that a measured time is held
against the same op model (FLOPs, bytes, formulas) the analysis commands use.

Kernels and their parameters:
    copy              n (bytes of the source; the copy reads n and writes n)
    gemm              M, N, K                                   [M,K] x [K,N]
    qk                G, N, d                                   G = b*h products [N,d] x [d,N]
    softmax           R, N                                      rows of N, R = b*h*N
    attention         B, H, N, d  (variant eager | sdpa-*)      non-causal, one layer
    decode_attention  B, H_q, H_kv, C, d (variant eager | sdpa) one query token over C cached
    generate          n (variant cached | uncached)             one step of a tiny decoder
"""

from __future__ import annotations

from collections.abc import Mapping

from rooflint.analysis.gemm import gemm_op
from rooflint.analysis.ops import ELEMENTWISE, MEMORY, Op, make_op
from rooflint.analysis.transformer import (
    FLASH,
    SOFTMAX_FLOP_PER_ELEMENT,
    OpOptions,
    attention_ops,
    decode_pass,
    flash_ops,
    forward_ops,
    prefill_pass,
)
from rooflint.dtypes import VECTOR_PEAK_KEY, dtype
from rooflint.specs import Hardware, Model

# The decoder that `generate` runs with random weights: small enough for a CPU step in
# milliseconds, shaped like a llama (GQA 4:1, gated MLP, RMSNorm, RoPE).
TINY_DECODER = Model(
    name="tiny-decoder", model_type="llama", num_hidden_layers=4, hidden_size=256,
    num_attention_heads=8, num_key_value_heads=2, head_dim=32, intermediate_size=688,
    vocab_size=2048, max_position_embeddings=4096, tie_word_embeddings=False,
    source="rooflint measure: random weights",
)


def kernel_ops(kernel: str, variant: str, dtype_name: str, p: Mapping[str, int],
               hw: Hardware | None = None) -> list[Op]:
    """The ops one call of the kernel performs (each with its count)."""
    dt = dtype(dtype_name)
    b = dt.bytes
    if kernel == "copy":
        return [make_op("copy", "model", 1, MEMORY, VECTOR_PEAK_KEY, {"n": p["n"]},
                        read="n", write="n", note="device/host memory copy: n bytes read, n written")]
    if kernel == "gemm":
        return [gemm_op(p["M"], p["N"], p["K"], dt)]
    if kernel == "qk":
        op = gemm_op(p["N"], p["N"], p["d"], dt, batch=p["G"])
        return [_renamed(op, "qk_matmul")]
    if kernel == "softmax":
        return [make_op("softmax", "model", 1, ELEMENTWISE, VECTOR_PEAK_KEY, {"R": p["R"], "N": p["N"], "b_a": b},
                        flops=f"{SOFTMAX_FLOP_PER_ELEMENT}*R*N", read="R*N*b_a", write="R*N*b_a",
                        note="row softmax: reads S, writes P")]
    if kernel == "attention":
        s = _attention_symbols(p["B"], p["H"], p["H"], p["N"], p["N"], p["d"], b)
        if variant == "eager":
            return attention_ops(s, dt.peak_key, 1)
        return flash_ops(s, dt.peak_key, 1, "prefill", None, _flash_options(hw, causal=False))
    if kernel == "decode_attention":
        s = _attention_symbols(p["B"], p["H_q"], p["H_kv"], 1, p["C"], p["d"], b)
        if variant == "eager":
            return attention_ops(s, dt.peak_key, 1)
        return flash_ops(s, dt.peak_key, 1, "decode", None, _flash_options(hw, causal=False))
    if kernel == "generate":
        step = decode_pass(1, p["n"]) if variant == "cached" else prefill_pass(1, p["n"])
        opts = OpOptions(attention=FLASH, sram_bytes=_sram(hw), sm_count=(hw and hw.sm_count) or 108)
        return forward_ops(TINY_DECODER, step, act=dt, weight=dt, kv=dt, opts=opts)
    raise ValueError(f"unknown kernel {kernel!r}")


def sp_bytes(p: Mapping[str, int], dtype_name: str) -> float:
    """S and P of eager attention, B*H*N*N elements each: what materializing them costs."""
    return 2 * p["B"] * p["H"] * p["N"] ** 2 * dtype(dtype_name).bytes


def _attention_symbols(batch: int, h_q: int, h_kv: int, q_len: int, kv_len: int, d: int, b: float) -> dict:
    return {"B": batch, "S_q": q_len, "S_kv": kv_len, "T": batch * q_len, "H_q": h_q, "H_kv": h_kv,
            "d": d, "d_v": d, "b_a": b, "b_kv": b, "b_k": b}


def _sram(hw: Hardware | None) -> float:
    from rooflint.analysis.flash import DEFAULT_SRAM_BYTES

    return (hw and hw.sram_per_sm_bytes) or DEFAULT_SRAM_BYTES


def _flash_options(hw: Hardware | None, causal: bool) -> OpOptions:
    return OpOptions(attention=FLASH, sram_bytes=_sram(hw), sm_count=(hw and hw.sm_count) or 108, causal=causal)


def _renamed(op: Op, name: str) -> Op:
    from dataclasses import replace

    return replace(op, name=name)
