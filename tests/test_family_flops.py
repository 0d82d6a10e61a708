"""Per-layer matmul FLOPs of each family, counted from its Hugging Face modeling code (the class
named in each case) for one prefill of S tokens and one decode step at C tokens, and held against
rooflint's ops. Eager attention, so the score matrices are the whole S x S (prefill) and 1 x S_kv
(decode); a multiply-add is 2 FLOPs, a bias add 1 per output.

    linear(n_in, n_out, bias) = 2 n_in n_out (+ n_out) per token
    attention = 2 H S_q S_kv d (QK^T) + 2 H S_q S_kv d_v (PV)
"""

import os

import pytest

from rooflint.analysis.inference import analyze
from rooflint.analysis.ops import MATMUL
from rooflint.specs.catalog import load_model
from rooflint.workload import Workload

CONFIGS = os.path.join(os.path.dirname(__file__), "data", "configs")
S, C = 512, 4096  # prompt tokens (prefill from empty), decode context


def lin(n_in, n_out, bias=False):
    return 2 * n_in * n_out + (n_out if bias else 0)


def attn(heads, q, kv, d, d_v=None):
    return 2 * heads * q * kv * (d + (d if d_v is None else d_v))


def measured(slug, label=""):
    """rooflint's per-layer matmul FLOPs of the layer group `label` (prefill, decode)."""
    a = analyze(load_model(os.path.join(CONFIGS, slug)), "h100", Workload(prompt=S, context=C, attention="eager"))

    def total(phase):
        ops = [t.op for t in phase.ops if t.op.scope == "layer" and t.op.kind == MATMUL
               and (t.op.name.partition("@")[2] == label)]
        assert ops, label
        return sum(o.flops for o in ops)
    return total(a.prefill), total(a.decode)


def check(slug, per_token, attention_prefill, attention_decode, label=""):
    prefill, decode = measured(slug, label)
    assert prefill == S * per_token + attention_prefill
    assert decode == per_token + attention_decode


def test_phi3():
    # Phi3Attention: fused qkv_proj D -> (H + 2 H_kv) d, o_proj; Phi3MLP: gate_up_proj D -> 2F, down_proj.
    # Phi-3-mini: D 3072, 32 heads of 96 (MHA), F 8192, window 2047 on every layer.
    D, H, d, F = 3072, 32, 96, 8192
    per_token = lin(D, (H + 2 * H) * d) + lin(H * d, D) + lin(D, 2 * F) + lin(F, D)
    check("phi-3-mini-4k", per_token, attn(H, S, S, d), attn(H, 1, 2047, d))  # decode: min(C, W) keys


def test_olmo2():
    # Olmo2Attention: q/k/v/o without bias (q_norm, k_norm are norms, not matmuls); Olmo2MLP gated.
    D, H, d, F = 4096, 32, 128, 11008
    per_token = 3 * lin(D, H * d) + lin(H * d, D) + 3 * lin(D, F)
    check("olmo-2-7b", per_token, attn(H, S, S, d), attn(H, 1, C, d))


def test_qwen3_moe():
    # Qwen3MoeAttention: q D -> 32 x 128, k/v D -> 4 x 128; Qwen3MoeSparseMoeBlock: gate D -> 128
    # experts, top-8 of Qwen3MoeMLP(moe_intermediate_size 768): gate, up, down per routed token.
    D, H, H_kv, d, E, k, F_e = 2048, 32, 4, 128, 128, 8, 768
    per_token = lin(D, H * d) + 2 * lin(D, H_kv * d) + lin(H * d, D) + lin(D, E) + k * (2 * lin(D, F_e) + lin(F_e, D))
    check("qwen3-30b-a3b", per_token, attn(H, S, S, d), attn(H, 1, C, d))


@pytest.mark.parametrize("label,keys", [("sliding", 128), ("full", C)])
def test_gpt_oss(label, keys):
    # GptOssAttention: q/k/v/o with biases (attention_bias); GptOssTopKRouter: linear with bias
    # D -> 32; GptOssExperts: gate_up_proj D -> 2F and down_proj F -> D with biases, top-4.
    D, H, H_kv, d, E, k, F = 2880, 64, 8, 64, 32, 4, 2880
    per_token = (lin(D, H * d, True) + 2 * lin(D, H_kv * d, True) + lin(H * d, D, True) + lin(D, E, True)
                 + k * (lin(D, 2 * F, True) + lin(F, D, True)))
    check("gpt-oss-20b", per_token, attn(H, S, S, d), attn(H, 1, keys, d), label)


@pytest.mark.parametrize("label,keys", [("chunked", C), ("full-nope", C)])
def test_llama4(label, keys):
    # Llama4TextAttention q/k/v/o no bias; Llama4TextMoe: router D -> 16, top-1 expert
    # (gate_up D -> 2F, down), shared_expert Llama4TextMLP(intermediate_size 8192) on every token.
    # At C = 4096 < attention_chunk_size 8192 a chunked layer still sees all keys.
    D, H, H_kv, d, E, k, F = 5120, 40, 8, 128, 16, 1, 8192
    per_token = (lin(D, H * d) + 2 * lin(D, H_kv * d) + lin(H * d, D) + lin(D, E) + k * (lin(D, 2 * F) + lin(F, D))
                 + 2 * lin(D, F) + lin(F, D))
    check("llama-4-scout", per_token, attn(H, S, S, d), attn(H, 1, keys, d), label)


def test_llama4_chunk_boundary():
    # a decode step at C = 8192 + 100 attends within its chunk: C - 8192 floor((C - 1) / 8192) = 100 keys
    m = load_model(os.path.join(CONFIGS, "llama-4-scout"))
    a = analyze(m, "h100", Workload(prompt=S, context=8192 + 100, attention="eager"))
    qk = {t.op.name: t.op.flops for t in a.decode.ops if t.op.name.startswith("qk_matmul")}
    assert qk == {"qk_matmul@chunked": 2 * 40 * 100 * 128, "qk_matmul@full-nope": 2 * 40 * 8292 * 128}


@pytest.mark.parametrize("label", ["dense", "moe"])
def test_glm4_moe(label):
    # Glm4MoeAttention: q/k/v with bias, o_proj without; layer 0 a Glm4MoeMLP(10944), the others
    # Glm4MoeMoE: gate D -> 128 (sigmoid scores + correction bias), top-8 experts of 1408, one
    # shared expert of 1408.
    D, H, H_kv, d = 4096, 96, 8, 128
    attention = lin(D, H * d, True) + 2 * lin(D, H_kv * d, True) + lin(H * d, D)
    # the router's e_score_correction_bias is added to its 128 scores to choose the top 8 (1 FLOP each)
    mlp = 3 * lin(D, 10944) if label == "dense" else lin(D, 128, True) + 8 * 3 * lin(D, 1408) + 3 * lin(D, 1408)
    check("glm-4.5-air", attention + mlp, attn(H, S, S, d), attn(H, 1, C, d), label)


def test_qwen3_next_full_attention_layers():
    # Qwen3NextAttention: q_proj D -> 2 H d (query and its output gate), k/v D -> 2 x 256, o_proj;
    # Qwen3NextSparseMoeBlock: gate D -> 512, top-10 experts of 512, shared expert of 512 and
    # shared_expert_gate D -> 1, whose sigmoid scales the shared output (D multiplies, in the op).
    D, H, H_kv, d = 2048, 16, 2, 256
    moe = lin(D, 512) + 10 * 3 * lin(D, 512) + 3 * lin(D, 512) + lin(D, 1) + D
    per_token = lin(D, 2 * H * d) + 2 * lin(D, H_kv * d) + lin(H * d, D) + moe
    check("qwen3-next-80b-a3b", per_token, attn(H, S, S, d), attn(H, 1, C, d), "full")


def test_qwen3_next_gated_deltanet_layers():
    # Qwen3NextGatedDeltaNet: in_proj_qkvz D -> 2 (16 x 128) + 2 (32 x 128), in_proj_ba D -> 64,
    # out_proj 4096 -> D. The rule: torch_chunk_gated_delta_rule in prefill, per token and value
    # head 6 d_k d_v + c (6 d_k + 4 d_v) + 2 c^2 / 3 with c = 64 (a MATMUL kernel, chunked); decode
    # runs the recurrent step on the vector units (not a matmul) and costs no attention over C.
    D, n_v, d_k, d_v, c = 2048, 32, 128, 128, 64
    moe = lin(D, 512) + 10 * 3 * lin(D, 512) + 3 * lin(D, 512) + lin(D, 1) + D
    per_token = lin(D, 2 * 16 * d_k + 2 * n_v * d_v) + lin(D, 2 * n_v) + lin(n_v * d_v, D) + moe
    rule = n_v * (6 * d_k * d_v + c * (6 * d_k + 4 * d_v) + 2 * c * c / 3)
    prefill, decode = measured("qwen3-next-80b-a3b", "linear")
    assert prefill == pytest.approx(S * (per_token + rule), rel=1e-12)
    assert decode == per_token


def test_mistral3_text_decoder():
    # Mistral3ForConditionalGeneration runs MistralModel on text_config: 40 layers, head_dim 128
    # (not 5120 / 32 = 160), GQA 32/8, F 32768; the vision tower is not run for text.
    D, H, H_kv, d, F = 5120, 32, 8, 128, 32768
    per_token = lin(D, H * d) + 2 * lin(D, H_kv * d) + lin(H * d, D) + 3 * lin(D, F)
    check("mistral-small-3.1-24b", per_token, attn(H, S, S, d), attn(H, 1, C, d))


@pytest.mark.parametrize("label,keys", [("sliding", 1024), ("full", C)])
def test_gemma3(label, keys):
    # Gemma3Attention: q D -> 16 x 256, k/v D -> 8 x 256; Gemma3MLP gated 15360; window 1024.
    D, H, H_kv, d, F = 3840, 16, 8, 256, 15360
    per_token = lin(D, H * d) + 2 * lin(D, H_kv * d) + lin(H * d, D) + 3 * lin(D, F)
    check("gemma-3-12b", per_token, attn(H, S, S, d), attn(H, 1, keys, d), label)


def test_kimi_k2_reads_as_deepseek_v3():
    # Kimi-K2's config says model_type kimi_k2 and DeepseekV3ForCausalLM: 384 experts top-8 of 2048,
    # one shared, MLA with 64 heads (q_lora 1536, kv_lora 512, nope 128, rope 64, v 128), first layer dense.
    D, H, r_q, r_kv, d_n, d_r, d_v = 7168, 64, 1536, 512, 128, 64, 128
    mla_linear = lin(D, r_q) + lin(r_q, H * (d_n + d_r)) + lin(D, r_kv + d_r) + lin(r_kv, H * (d_n + d_v)) + lin(H * d_v, D)
    moe = lin(D, 384, True) + 8 * 3 * lin(D, 2048) + 3 * lin(D, 2048)  # + the score-correction bias
    a = analyze(load_model(os.path.join(CONFIGS, "kimi-k2")), "h100",
                Workload(prompt=S, context=C, attention="eager", mla_mode="naive"))
    prefill = sum(t.op.flops for t in a.prefill.ops if t.op.kind == MATMUL and t.op.name.endswith("@moe"))
    assert prefill == S * (mla_linear + moe) + attn(H, S, S, d_n + d_r, d_v)
