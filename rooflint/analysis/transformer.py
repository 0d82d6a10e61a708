"""The ops of one forward pass of a decoder-only transformer, for prefill or one decode step.

Eager attention is the kernel trio of seed 004: S = QK^T/sqrt(d) written to memory, P =
softmax(S) read and written, O = PV; the full S_q x S_kv score matrix is computed (a causal
mask lets eager kernels skip nothing). Flash attention is one fused kernel (see flash.py).
K and V are read once per KV head (GQA/MQA), not once per query head.

Layers that differ (sliding vs full attention, dense vs MoE MLP) are analysed as groups of
identical layers; each op's `count` is the number of layers in its group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooflint.analysis import flash
from rooflint.analysis.kv_cache import ABSORBED
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, MEMORY, Op, make_op
from rooflint.dtypes import VECTOR_PEAK_KEY, DType
from rooflint.specs import Model

# FLOPs per element of the elementwise kernels: named assumptions, shown by --explain.
SOFTMAX_FLOP_PER_ELEMENT = 5  # max, subtract, exp, sum, divide (seed 004)
NORM_FLOP_PER_ELEMENT = {"rmsnorm": 4, "layernorm": 7}  # square/sum/scale/weight (+mean, bias)
ACT_FLOP_PER_ELEMENT = {"gated": 5, "plain": 8}  # silu(g)*u ~ 4+1; gelu (tanh form) ~ 8
ROPE_FLOP_PER_ELEMENT = 3  # x*cos + rotate(x)*sin
EAGER, FLASH = "eager", "flash"


@dataclass(frozen=True, slots=True)
class Pass:
    """What one forward pass processes."""

    phase: str  # "prefill" or "decode"
    batch: int  # B
    query_len: int  # S_q per sequence: P in prefill, 1 in decode
    kv_len: int  # S_kv per sequence attended: P in prefill (+ a cached prefix), C in decode
    lm_head_rows: int  # rows the lm_head is applied to


def prefill_pass(batch: int, prompt: int, all_logits: bool = False, prefix: int = 0) -> Pass:
    """A prompt of `prompt` new tokens after `prefix` cached ones (chunked prefill, prefix cache)."""
    return Pass("prefill", batch, prompt, prefix + prompt, batch * prompt if all_logits else batch)


def decode_pass(batch: int, context: int) -> Pass:
    return Pass("decode", batch, 1, context, batch)


@dataclass(frozen=True, slots=True)
class OpOptions:
    """How the kernels run: attention kernel, MLA mode, storage bytes and tile/SM facts."""

    attention: str = EAGER
    mla_mode: str = ABSORBED
    weight_bytes: float | None = None  # per weight element incl. scales (default: the weight dtype)
    kv_bytes: float | None = None  # per KV element incl. scales (default: the KV dtype)
    sram_bytes: float = flash.DEFAULT_SRAM_BYTES
    tile: flash.Tiles | None = None  # flash tiles; default sized from sram_bytes
    sm_count: int = 108
    causal: bool = True


@dataclass(frozen=True, slots=True)
class LayerGroup:
    count: int
    window: int | None
    moe: bool
    label: str  # suffix for op names when a model has several groups


def layer_groups(m: Model) -> list[LayerGroup]:
    """Identical layers grouped by (window, MoE), in order of first appearance."""
    counts: dict[tuple[int | None, bool], int] = {}
    for i in range(m.num_hidden_layers):
        key = (m.layer_window(i), m.layer_is_moe(i))
        counts[key] = counts.get(key, 0) + 1
    several = len(counts) > 1
    groups = []
    for (window, moe), count in counts.items():
        parts = []
        if several and len({w for w, _ in counts}) > 1:
            parts.append("sliding" if window else "full")
        if several and len({e for _, e in counts}) > 1:
            parts.append("moe" if moe else "dense")
        groups.append(LayerGroup(count, window, moe, "@" + "-".join(parts) if parts else ""))
    return groups


def symbols_for(m: Model, p: Pass, act: DType, weight: DType, kv: DType,
                opts: OpOptions | None = None, window: int | None = None) -> dict[str, float]:
    opts = opts or OpOptions()
    s_kv = p.kv_len
    if p.phase == "decode" and window:
        s_kv = min(s_kv, window)
    b_kv = opts.kv_bytes if opts.kv_bytes is not None else kv.bytes
    return {
        "B": p.batch, "S_q": p.query_len, "S_kv": s_kv, "T": p.batch * p.query_len,
        "T_lm": p.lm_head_rows, "L": m.num_hidden_layers, "D": m.hidden_size,
        "H_q": m.num_attention_heads, "H_kv": m.num_key_value_heads, "d": m.head_dim, "d_v": m.head_dim,
        "F": m.intermediate_size, "V": m.vocab_size,
        "b_w": opts.weight_bytes if opts.weight_bytes is not None else weight.bytes,
        "b_a": act.bytes, "b_kv": b_kv,
        # K/V of a prefill come fresh from the projections; a decode step reads the cache.
        "b_k": act.bytes if p.phase == "prefill" else b_kv,
    }


def _linear(name: str, count: int, mm: str, s: dict, n_in: str, n_out: str, bias: bool, scope: str = "layer") -> Op:
    b = f" + T*{n_out}" if bias else ""
    bias_read = f" + {n_out}*b_w" if bias else ""
    return make_op(name, scope, count, MATMUL, mm, s,
                   flops=f"2*T*{n_in}*{n_out}{b}",
                   read=f"{n_in}*{n_out}*b_w{bias_read} + T*{n_in}*b_a",
                   write=f"T*{n_out}*b_a")


def _norm(name: str, count: int, norm: str, s: dict, width: str = "D", scope: str = "layer") -> Op:
    c = NORM_FLOP_PER_ELEMENT[norm]
    params = f"2*{width}*b_w" if norm == "layernorm" else f"{width}*b_w"
    return make_op(name, scope, count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops=f"{c}*T*{width}", read=f"T*{width}*b_a + {params}", write=f"T*{width}*b_a",
                   note=f"{norm}: {c} FLOP per element")


def attention_ops(s: dict, mm: str, count: int, shared_kv: bool = False) -> list[Op]:
    """Eager attention of one layer: QK^T, softmax, PV with S and P through memory."""
    return [
        make_op("qk_matmul", "layer", count, MATMUL, mm, s,
                flops="2*B*H_q*S_q*S_kv*d",
                read="B*H_q*S_q*d*b_a + B*H_kv*S_kv*d*b_k", write="B*H_q*S_q*S_kv*b_a",
                note="S = QK^T/sqrt(d) written to memory; K read once per KV head"),
        make_op("softmax", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                flops=f"{SOFTMAX_FLOP_PER_ELEMENT}*B*H_q*S_q*S_kv",
                read="B*H_q*S_q*S_kv*b_a", write="B*H_q*S_q*S_kv*b_a",
                note="P = softmax(S): reads S, writes P"),
        make_op("pv_matmul", "layer", count, MATMUL, mm, s,
                flops="2*B*H_q*S_q*S_kv*d_v",
                read="B*H_q*S_q*S_kv*b_a + B*H_kv*S_kv*d_v*b_k", write="B*H_q*S_q*d_v*b_a",
                note="O = PV; V read once per KV head" + (" (V is the latent read again)" if shared_kv else "")),
    ]


def flash_ops(s: dict, mm: str, count: int, phase: str, window: int | None, opts: OpOptions,
              shared_kv: bool = False) -> list[Op]:
    """One fused kernel per layer (plus, in decode, the split-KV reduction)."""
    groups = int(s["H_q"] // s["H_kv"])
    d_kv = "d" if shared_kv else "(d + d_v)"  # MLA's latent holds V inside K: loaded once
    if phase == "prefill":
        tile = opts.tile or flash.tile_sizes(opts.sram_bytes, int(s["d"]), s["b_a"])
        per_tile = max(1, tile.rows // groups)
        v = flash.causal_visits(int(s["S_q"]), int(s["S_kv"]), per_tile, tile.cols, window, opts.causal)
        s = {**s, "E": v.scores, "R": v.kv_rows_loaded, "T_r": v.query_tiles, "B_r": tile.rows, "B_c": tile.cols}
        return [make_op("flash_attention", "layer", count, MATMUL, mm, s,
                        flops=f"2*B*H_q*E*(d + d_v) + {SOFTMAX_FLOP_PER_ELEMENT}*B*H_q*E",
                        read=f"B*H_q*S_q*d*b_a + B*H_kv*R*{d_kv}*b_k",
                        write="B*H_q*S_q*d_v*b_a + 4*B*H_q*S_q",
                        note=f"fused{', causal tiles skipped' if opts.causal else ''}: {v.query_tiles} query tiles of {per_tile} positions"
                             f" x {groups} heads (B_r={tile.rows}, B_c={tile.cols}); E = scores computed per head,"
                             " R = K/V rows loaded per KV head; O and fp32 log-sum-exp written")]
    splits = flash.decode_splits(int(s["B"]), int(s["H_kv"]), int(s["S_kv"]), opts.sm_count, int(s["d_v"]))
    s = {**s, "n_split": splits}
    partial = "B*H_q*n_split*(d_v + 1)*4"
    ops = [make_op("flash_decode", "layer", count, MATMUL, mm, s,
                   flops=f"2*B*H_q*S_kv*(d + d_v) + {SOFTMAX_FLOP_PER_ELEMENT}*B*H_q*S_kv",
                   read=f"B*H_q*d*b_a + B*H_kv*S_kv*{d_kv}*b_k",
                   write=partial if splits > 1 else "B*H_q*d_v*b_a",
                   note=f"split-KV over {splits} chunks; K/V read once per KV head, "
                        f"{groups} query heads packed" + ("; fp32 partial outputs + LSE" if splits > 1 else ""))]
    if splits > 1:
        ops.append(make_op("flash_decode_reduce", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                           flops="3*B*H_q*n_split*(d_v + 1)", read=partial, write="B*H_q*d_v*b_a",
                           note="combines the split partials with their log-sum-exps"))
    return ops


def _attention_block(m: Model, p: Pass, s: dict, mm: str, g: LayerGroup, opts: OpOptions) -> list[Op]:
    """Norm, projections, position encoding, cache append, attention, output projection."""
    from rooflint.analysis import mla

    L = g.count
    if m.is_mla:
        return mla.attention_block(m, p, s, mm, g, opts)
    q, kv = "H_q*d", "H_kv*d"
    ops = [_linear("q_proj", L, mm, s, "D", q, m.qkv_bias),
           _linear("k_proj", L, mm, s, "D", kv, m.qkv_bias),
           _linear("v_proj", L, mm, s, "D", kv, m.qkv_bias)]
    if m.qk_norm:
        ops.append(make_op("qk_norm", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                           flops="4*T*(H_q + H_kv)*d", read="T*(H_q + H_kv)*d*b_a + 2*d*b_w",
                           write="T*(H_q + H_kv)*d*b_a", note="per-head RMSNorm of q and k"))
    if m.position_embedding == "rope":
        ops.append(rope_op(L, s, "(H_q + H_kv)*d"))
    ops.append(make_op("kv_cache_append", "layer", L, MEMORY, VECTOR_PEAK_KEY, s,
                       read="2*T*H_kv*d*b_a", write="2*T*H_kv*d*b_kv",
                       note="the new tokens' K and V stored in the cache"))
    ops += core_attention(p, s, mm, g, opts)
    ops.append(_linear("o_proj", L, mm, s, q, "D", m.o_bias))
    return ops


def rope_op(count: int, s: dict, width: str) -> Op:
    return make_op("rope", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops=f"{ROPE_FLOP_PER_ELEMENT}*T*{width}", read=f"T*{width}*b_a", write=f"T*{width}*b_a",
                   note="rotary embedding of q and k (cos/sin tables not counted)")


def core_attention(p: Pass, s: dict, mm: str, g: LayerGroup, opts: OpOptions, shared_kv: bool = False) -> list[Op]:
    if opts.attention == FLASH:
        return flash_ops(s, mm, g.count, p.phase, g.window, opts, shared_kv)
    return attention_ops(s, mm, g.count, shared_kv)


def mlp_ops(m: Model, s: dict, mm: str, L: int, width: str = "F", prefix: str = "") -> list[Op]:
    c = ACT_FLOP_PER_ELEMENT[m.mlp]
    if m.mlp == "gated":
        return [_linear(f"{prefix}gate_proj", L, mm, s, "D", width, m.mlp_bias),
                _linear(f"{prefix}up_proj", L, mm, s, "D", width, m.mlp_bias),
                make_op(f"{prefix}act_mul", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                        flops=f"{c}*T*{width}", read=f"2*T*{width}*b_a", write=f"T*{width}*b_a",
                        note=f"{m.hidden_act}(gate) * up: {c} FLOP per element"),
                _linear(f"{prefix}down_proj", L, mm, s, width, "D", m.mlp_bias)]
    return [_linear(f"{prefix}fc_in", L, mm, s, "D", width, m.mlp_bias),
            make_op(f"{prefix}act", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                    flops=f"{c}*T*{width}", read=f"T*{width}*b_a", write=f"T*{width}*b_a",
                    note=f"{m.hidden_act}: {c} FLOP per element"),
            _linear(f"{prefix}fc_out", L, mm, s, width, "D", m.mlp_bias)]


def _residual(name: str, count: int, s: dict) -> Op:
    return make_op(name, "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops="T*D", read="2*T*D*b_a", write="T*D*b_a")


def layer_ops(m: Model, p: Pass, s: dict, mm: str, g: LayerGroup, opts: OpOptions) -> list[Op]:
    """Ops of the layers of one group, `count` = layers in the group."""
    from rooflint.analysis import moe

    L = g.count
    ops = [_norm("attn_norm", L, m.norm, s)]
    ops += _attention_block(m, p, s, mm, g, opts)
    if m.norms_per_layer == 4:  # Gemma 2/3 normalise each block's output as well
        ops.append(_norm("post_attn_norm", L, m.norm, s))
    ops.append(_residual("attn_residual", L, s))
    if m.norms_per_layer >= 2:
        ops.append(_norm("mlp_norm", L, m.norm, s))
    ops += moe.moe_ops(m, s, mm, L) if g.moe else mlp_ops(m, s, mm, L)
    if m.norms_per_layer == 4:
        ops.append(_norm("post_mlp_norm", L, m.norm, s))
    ops.append(_residual("mlp_residual", L, s))
    if g.label:
        ops = [replace(op, name=op.name + g.label) for op in ops]
    return ops


def model_ops(m: Model, s: dict, mm: str) -> tuple[list[Op], list[Op]]:
    """Ops before the first layer and after the last one."""
    head = [make_op("embedding", "model", 1, MEMORY, VECTOR_PEAK_KEY, s,
                    read="T*D*b_w", write="T*D*b_a", note="gather of T rows of the table")]
    if m.position_embedding == "learned":
        head.append(make_op("position_embedding", "model", 1, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                            flops="T*D", read="T*D*b_w + T*D*b_a", write="T*D*b_a"))
    tail = [_norm("final_norm", 1, m.norm, s, scope="model"),
            make_op("lm_head", "model", 1, MATMUL, mm, s,
                    flops="2*T_lm*D*V", read="D*V*b_w + T_lm*D*b_a", write="T_lm*V*b_a",
                    note="logits for T_lm rows (last position per sequence in prefill by default)")]
    return head, tail


def forward_ops(m: Model, p: Pass, act: DType, weight: DType, kv: DType, opts: OpOptions | None = None) -> list[Op]:
    """Every op of one forward pass, in execution order (layer ops once per group, count = layers)."""
    opts = opts or OpOptions()
    mm = act.peak_key  # weight-only quantized weights are dequantized into the activation type
    head, tail = model_ops(m, symbols_for(m, p, act, weight, kv, opts), mm)
    body = []
    for g in layer_groups(m):
        body += layer_ops(m, p, symbols_for(m, p, act, weight, kv, opts, g.window), mm, g, opts)
    return head + body + tail
