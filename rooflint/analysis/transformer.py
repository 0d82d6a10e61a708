"""The ops of one forward pass of a decoder-only transformer, for prefill or one decode step.

Attention here is the eager kernel trio of seed 004: S = QK^T/sqrt(d) written to memory,
P = softmax(S) read and written, O = PV; the full S_q x S_kv score matrix is computed (a
causal mask does not let the eager kernels skip anything). K and V are read once per KV head
(GQA/MQA), not once per query head.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis.kv_cache import cached_tokens
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, MEMORY, Op, make_op
from rooflint.dtypes import VECTOR_PEAK_KEY, DType
from rooflint.specs import Model

# FLOPs per element of the elementwise kernels: named assumptions, shown by --explain.
SOFTMAX_FLOP_PER_ELEMENT = 5  # max, subtract, exp, sum, divide (seed 004)
NORM_FLOP_PER_ELEMENT = {"rmsnorm": 4, "layernorm": 7}  # square/sum/scale/weight (+mean, bias)
ACT_FLOP_PER_ELEMENT = {"gated": 5, "plain": 8}  # silu(g)*u ~ 4+1; gelu (tanh form) ~ 8
ROPE_FLOP_PER_ELEMENT = 3  # x*cos + rotate(x)*sin


@dataclass(frozen=True, slots=True)
class Pass:
    """What one forward pass processes."""

    phase: str  # "prefill" or "decode"
    batch: int  # B
    query_len: int  # S_q per sequence: P in prefill, 1 in decode
    kv_len: int  # S_kv per sequence attended: P in prefill, C in decode
    lm_head_rows: int  # rows the lm_head is applied to


def prefill_pass(batch: int, prompt: int, all_logits: bool = False) -> Pass:
    return Pass("prefill", batch, prompt, prompt, batch * prompt if all_logits else batch)


def decode_pass(batch: int, context: int) -> Pass:
    return Pass("decode", batch, 1, context, batch)


def symbols_for(m: Model, p: Pass, act: DType, weight: DType, kv: DType) -> dict[str, float]:
    s_kv = p.kv_len if p.phase == "prefill" else cached_tokens(m, p.kv_len)
    return {
        "B": p.batch, "S_q": p.query_len, "S_kv": s_kv, "T": p.batch * p.query_len,
        "T_lm": p.lm_head_rows, "L": m.num_hidden_layers, "D": m.hidden_size,
        "H_q": m.num_attention_heads, "H_kv": m.num_key_value_heads, "d": m.head_dim,
        "F": m.intermediate_size, "V": m.vocab_size,
        "b_w": weight.bytes, "b_a": act.bytes, "b_kv": kv.bytes,
        # K/V of a prefill come fresh from the projections; a decode step reads the cache.
        "b_k": act.bytes if p.phase == "prefill" else kv.bytes,
    }


def _linear(name: str, count: int, mm: str, s: dict, n_in: str, n_out: str, bias: bool, scope: str = "layer") -> Op:
    b = f" + T*{n_out}" if bias else ""
    bias_read = f" + {n_out}*b_w" if bias else ""
    return make_op(name, scope, count, MATMUL, mm, s,
                   flops=f"2*T*{n_in}*{n_out}{b}",
                   read=f"{n_in}*{n_out}*b_w{bias_read} + T*{n_in}*b_a",
                   write=f"T*{n_out}*b_a")


def _norm(name: str, count: int, m: Model, s: dict, scope: str = "layer", rows: str = "T") -> Op:
    c = NORM_FLOP_PER_ELEMENT[m.norm]
    params = "2*D*b_w" if m.norm == "layernorm" else "D*b_w"
    return make_op(name, scope, count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops=f"{c}*{rows}*D", read=f"{rows}*D*b_a + {params}", write=f"{rows}*D*b_a",
                   note=f"{m.norm}: {c} FLOP per element")


def attention_ops(s: dict, mm: str, count: int) -> list[Op]:
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
                flops="2*B*H_q*S_q*S_kv*d",
                read="B*H_q*S_q*S_kv*b_a + B*H_kv*S_kv*d*b_k", write="B*H_q*S_q*d*b_a",
                note="O = PV; V read once per KV head"),
    ]


def layer_ops(m: Model, s: dict, mm: str) -> list[Op]:
    """Ops of one decoder layer, `count` = L."""
    L = m.num_hidden_layers
    q, kv = "H_q*d", "H_kv*d"
    ops = [_norm("attn_norm", L, m, s)]
    ops += [_linear("q_proj", L, mm, s, "D", q, m.qkv_bias),
            _linear("k_proj", L, mm, s, "D", kv, m.qkv_bias),
            _linear("v_proj", L, mm, s, "D", kv, m.qkv_bias)]
    if m.qk_norm:
        ops.append(make_op("qk_norm", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                           flops="4*T*(H_q + H_kv)*d", read="T*(H_q + H_kv)*d*b_a + 2*d*b_w",
                           write="T*(H_q + H_kv)*d*b_a", note="per-head RMSNorm of q and k"))
    if m.position_embedding == "rope":
        ops.append(make_op("rope", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                           flops=f"{ROPE_FLOP_PER_ELEMENT}*T*(H_q + H_kv)*d",
                           read="T*(H_q + H_kv)*d*b_a", write="T*(H_q + H_kv)*d*b_a",
                           note="rotary embedding of q and k (cos/sin tables not counted)"))
    ops.append(make_op("kv_cache_append", "layer", L, MEMORY, VECTOR_PEAK_KEY, s,
                       read="2*T*H_kv*d*b_a", write="2*T*H_kv*d*b_kv",
                       note="the new tokens' K and V stored in the cache"))
    ops += attention_ops(s, mm, L)
    ops.append(_linear("o_proj", L, mm, s, q, "D", m.o_bias))
    ops.append(_residual("attn_residual", L, s))
    if m.norms_per_layer == 2:
        ops.append(_norm("mlp_norm", L, m, s))
    ops += mlp_ops(m, s, mm, L)
    ops.append(_residual("mlp_residual", L, s))
    return ops


def mlp_ops(m: Model, s: dict, mm: str, L: int) -> list[Op]:
    c = ACT_FLOP_PER_ELEMENT[m.mlp]
    if m.mlp == "gated":
        return [_linear("gate_proj", L, mm, s, "D", "F", m.mlp_bias),
                _linear("up_proj", L, mm, s, "D", "F", m.mlp_bias),
                make_op("act_mul", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                        flops=f"{c}*T*F", read="2*T*F*b_a", write="T*F*b_a",
                        note=f"{m.hidden_act}(gate) * up: {c} FLOP per element"),
                _linear("down_proj", L, mm, s, "F", "D", m.mlp_bias)]
    return [_linear("fc_in", L, mm, s, "D", "F", m.mlp_bias),
            make_op("act", "layer", L, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                    flops=f"{c}*T*F", read="T*F*b_a", write="T*F*b_a",
                    note=f"{m.hidden_act}: {c} FLOP per element"),
            _linear("fc_out", L, mm, s, "F", "D", m.mlp_bias)]


def _residual(name: str, count: int, s: dict) -> Op:
    return make_op(name, "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                   flops="T*D", read="2*T*D*b_a", write="T*D*b_a")


def model_ops(m: Model, s: dict, mm: str) -> tuple[list[Op], list[Op]]:
    """Ops before the first layer and after the last one."""
    head = [make_op("embedding", "model", 1, MEMORY, VECTOR_PEAK_KEY, s,
                    read="T*D*b_w", write="T*D*b_a", note="gather of T rows of the table")]
    if m.position_embedding == "learned":
        head.append(make_op("position_embedding", "model", 1, ELEMENTWISE, VECTOR_PEAK_KEY, s,
                            flops="T*D", read="T*D*b_w + T*D*b_a", write="T*D*b_a"))
    tail = [_norm("final_norm", 1, m, s, scope="model"),
            make_op("lm_head", "model", 1, MATMUL, mm, s,
                    flops="2*T_lm*D*V", read="D*V*b_w + T_lm*D*b_a", write="T_lm*V*b_a",
                    note="logits for T_lm rows (last position per sequence in prefill by default)")]
    return head, tail


def forward_ops(m: Model, p: Pass, act: DType, weight: DType, kv: DType) -> list[Op]:
    """Every op of one forward pass, in execution order (layer ops once, with count = L)."""
    s = symbols_for(m, p, act, weight, kv)
    head, tail = model_ops(m, s, act.peak_key)
    return head + layer_ops(m, s, act.peak_key) + tail
