"""Issue 3: MLA, MoE, sliding windows, quantized KV, flash attention, capacity planning.

Each expected figure is a formula written here, from the model configs and the papers cited
in the modules (DeepSeek-V2 section 2.1; FlashAttention section 3.2; uniform top-k routing).
"""

import os

import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint import SpecError, Workload, analyze, dtype, load_hardware, load_model
from rooflint.analysis.kv_cache import kv_bytes, kv_bytes_per_token
from rooflint.analysis.moe import expected_experts_hit
from rooflint.analysis.plan import plan, shard
from rooflint.dtypes import element_bytes

H100 = load_hardware("h100")
MiB, KiB = 2**20, 2**10


def test_deepseek_v2_lite_latent_cache():
    m = load_model("deepseek-v2-lite")
    assert kv_bytes_per_token(m, 2) == 27 * (512 + 64) * 2 == 31_104  # absorbed: the latent
    assert kv_bytes_per_token(m, 2, "naive") == 27 * 16 * (128 + 64 + 128) * 2  # decompressed K and V
    assert load_model(os.path.join(DATA, "configs", "deepseek-v2-lite")).kv_lora_rank == 512


def test_mla_absorbed_decode_intensity_far_higher():
    m = load_model("deepseek-v2-lite")
    get = lambda mode: analyze(m, H100, Workload(batch=1, prompt=64, context=8192, mla_mode=mode, attention="eager"))
    qk = lambda a: next(t.op for t in a.decode.ops if t.op.name.startswith("qk_matmul"))
    naive, absorbed = qk(get("naive")), qk(get("absorbed"))
    assert naive.intensity < 1.1  # one query row per KV head: ~1 FLOP/B
    assert absorbed.intensity > 10 * naive.intensity  # 16 heads share one latent KV head
    assert absorbed.symbols["H_kv"] == 1 and absorbed.symbols["d"] == 576


def test_llama2_70b_kv():
    assert kv_bytes_per_token(load_model("llama2-70b"), 2) == 2 * 80 * 8 * 128 * 2 == 320 * KiB


def test_mistral_window():
    m = load_model("mistral-7b")
    assert kv_bytes(m, 2, 32 * 1024) == 2 * 32 * 8 * 128 * 2 * 4096 == 512 * MiB  # capped at the window


def test_fp8_halves_and_int4_scales():
    m = load_model("llama3-8b")
    fp16 = analyze(m, H100, Workload(kv_dtype=dtype("fp16")))
    fp8 = analyze(m, H100, Workload(kv_dtype=dtype("fp8")))
    int4 = analyze(m, H100, Workload(kv_dtype=dtype("int4")))
    assert fp8.kv_bytes_per_token * 2 == fp16.kv_bytes_per_token
    # int4: 0.5 B per element + one fp16 scale per 64 elements = 0.53125 B
    assert int4.kv_bytes_per_token == 2 * 32 * 8 * 128 * (0.5 + 2 / 64)
    assert element_bytes(dtype("int4"), 32) == 0.5 + 2 / 32


def test_gemma2_interleaved_layers():
    m = load_model(os.path.join(DATA, "configs", "gemma2-2b"))
    # 13 sliding layers cap at 4096, 13 global layers hold the whole context
    per_layer = 2 * 4 * 256 * 2
    assert kv_bytes(m, 2, 8192) == 13 * per_layer * 4096 + 13 * per_layer * 8192
    a = analyze(m, H100, Workload(prompt=128, context=8192, attention="eager"))
    names = {t.op.name for t in a.decode.ops}
    assert "qk_matmul@sliding" in names and "qk_matmul@full" in names
    s_kv = {t.op.name: t.op.symbols["S_kv"] for t in a.decode.ops if t.op.name.startswith("qk_matmul")}
    assert s_kv == {"qk_matmul@sliding": 4096, "qk_matmul@full": 8192}


def test_moe_expected_experts_and_params():
    assert expected_experts_hit(8, 2, 1) == 2
    assert expected_experts_hit(8, 2, 2) == pytest.approx(8 * (1 - 0.75**2))
    m = load_model("mixtral-8x7b")
    a1 = analyze(m, H100, Workload(batch=1, prompt=16, context=16))
    a64 = analyze(m, H100, Workload(batch=64, prompt=16, context=16))
    assert a1.active_param_count < a1.param_count / 3  # ~12.9 of 46.7 B
    assert a64.decode.bytes > 2 * a1.decode.bytes  # more experts hit


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 512))
def test_moe_decode_bytes_below_dense_equivalent(batch):
    m = load_model("mixtral-8x7b")
    a = analyze(m, H100, Workload(batch=batch, prompt=16, context=16))
    experts = [t for t in a.decode.ops if t.op.name in ("experts_gate_up", "experts_down")]
    weights = sum(t.op.count * t.op.bytes_read for t in experts)
    all_experts = m.num_hidden_layers * m.num_experts * 3 * m.hidden_size * m.moe_intermediate_size * 2
    activations = sum(t.op.count * t.op.symbols["T"] * t.op.symbols["k"] * (m.hidden_size if t.op.name == "experts_gate_up"
                      else m.moe_intermediate_size) * 2 for t in experts)
    assert weights - activations <= all_experts * (1 + 1e-12)


def _flash_vs_eager(m, **kw):
    eager = analyze(m, H100, Workload(attention="eager", **kw))
    flash = analyze(m, H100, Workload(attention="flash", **kw))
    return eager, flash


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from([64, 128]), st.integers(1, 6000), st.integers(1, 4))
def test_flash_never_moves_more_than_eager(kv_heads, groups, d, n, batch):
    m = load_model("llama2-7b", {"num_key_value_heads": str(kv_heads), "num_attention_heads": str(kv_heads * groups),
                                 "head_dim": str(d), "num_hidden_layers": "1"})
    eager, flash = _flash_vs_eager(m, batch=batch, prompt=n, context=n)
    attn = lambda a, phase: sum(t.op.bytes for t in getattr(a, phase).ops
                                if t.op.name in ("qk_matmul", "softmax", "pv_matmul", "flash_attention",
                                                 "flash_decode", "flash_decode_reduce"))
    assert attn(flash, "prefill") <= attn(eager, "prefill")
    assert attn(flash, "decode") <= attn(eager, "decode")


def tile_by_tile(q_len, kv_len, per_tile, cols, window=None, causal=True):
    """FlashAttention-2's loop, counted tile by tile: query tile i covers queries i*p..e_i-1 (the
    last q_len of kv_len keys) and loads K/V tiles from the first key its window needs to the
    last its causal mask allows. Returns (query tiles, K/V rows loaded, scores computed)."""
    offset = kv_len - q_len
    tiles, loaded, scores = -(-q_len // per_tile), 0, 0
    for i in range(tiles):
        first, last = i * per_tile, min((i + 1) * per_tile, q_len) - 1
        hi = offset + last + 1 if causal else kv_len
        lo = max(0, offset + first - window + 1) if window else 0
        start, end = (lo // cols) * cols, min(-(-hi // cols) * cols, kv_len)
        loaded += end - start
        scores += (last - first + 1) * (end - start)
    return tiles, loaded, scores


def closed_form(q_len, kv_len, per_tile, cols, window=None, causal=True):
    from rooflint.analysis.flash import geometry

    env = {"S_q": q_len, "C": kv_len, "p": per_tile, "B_c": cols, "W": window or 0}
    for name, e in geometry(bool(window), causal):
        env[name] = e.evaluate(env)
    return env["T_r"], env["R"], env["N_s"]


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 5000), st.sampled_from([1, 2, 7, 16, 22, 40, 53, 56, 128]),
       st.sampled_from([16, 64, 128, 160, 224]), st.one_of(st.none(), st.integers(1, 6000)), st.booleans())
def test_flash_geometry_closed_form_equals_the_tile_loop(q_len, prefix, per_tile, cols, window, causal):
    """The closed form (floor_sums, no loop) is the tile-by-tile count, whatever the geometry."""
    assert closed_form(q_len, prefix + q_len, per_tile, cols, window, causal) == \
        tile_by_tile(q_len, prefix + q_len, per_tile, cols, window, causal)


def test_flash_traffic_scales_as_n2_d2_over_m():
    from rooflint.analysis.flash import tile_sizes

    # K/V rows loaded ~ (N / B_r) * N / 2 (causal): quadrupling N gives ~16x; halving SRAM ~2x
    t = tile_sizes(228 * KiB, 128, 2)
    r = lambda n, tile: closed_form(n, n, tile.rows, tile.cols)[1]
    assert r(32768, t) / r(8192, t) == pytest.approx(16, rel=0.05)
    half = tile_sizes(114 * KiB, 128, 2)
    assert r(32768, half) / r(32768, t) == pytest.approx(2, rel=0.1)
    # non-causal visits every tile: exactly T_r * N rows
    assert closed_form(1024, 1024, 128, 128, causal=False) == (8, 8 * 1024, 1024 * 1024)
    # causal with a cached prefix: the last tile sees prefix + all its queries
    assert closed_form(128, 1024, 128, 128) == (1, 1024, 128 * 1024)


def test_flash_ratio_grows_with_n(cli):
    rows = cli.json("attention", "--gpu", "h100", "--seq", "512,2048,8192,32768", "--head-dim", "128")["rows"]
    ratios = [r["bytes_ratio"] for r in rows]
    assert ratios == sorted(ratios) and ratios[0] > 1


def test_plan_llama3_70b_tp4():
    m = load_model("llama3-70b")
    p = plan(m, H100, Workload(batch=1, prompt=2048, context=32768), tp=4)
    per_seq = 2 * 80 * 2 * 128 * 2 * 32768  # 2 KV heads per GPU
    assert p.at_batch.kv_bytes_per_sequence == per_seq
    budget = 0.9 * 80 * 2**30 - p.at_batch.weights_bytes - p.at_batch.workspace_bytes
    assert p.max_batch == int(budget // per_seq)
    assert p.at_batch.weights_bytes == pytest.approx(70.55e9 * 2 / 4, rel=0.01)
    # two ring all-reduces per layer of one token's activations: 2 * 80 * 2(4-1)/4 * 8192 * 2 B / 900 GB/s
    assert p.terms["plan.allreduce_decode_s"].value == pytest.approx(2 * 80 * 2 * 3 / 4 * 8192 * 2 / 900e9)


def test_plan_replicates_kv_heads_and_validates():
    m = load_model("llama3-8b")  # 32 query heads, 8 KV heads
    assert shard(m, 4).num_key_value_heads == 2  # split
    assert shard(m, 16).num_key_value_heads == 1  # fewer KV heads than GPUs: each GPU holds one
    assert shard(m, 16).num_attention_heads == 2
    with pytest.raises(SpecError, match="do not divide"):
        shard(m, 3)
    with pytest.raises(SpecError, match="mem-util"):
        plan(m, H100, Workload(memory_utilization=1.5))


@pytest.mark.parametrize("args,words", [
    (["analyze", "llama2-7b", "--kv-dtype", "fp7"], "unknown dtype"),
    (["analyze", "llama2-7b", "--kv-group-size", "0"], "--kv-group-size"),
    (["analyze", "llama2-7b", "--flash-tile", "0,64"], "--flash-tile"),
    (["analyze", "llama2-7b", "--set", "sliding_window=0"], "sliding_window"),
    (["plan", "llama3-70b", "--tp", "3"], "do not divide"),
    (["plan", "llama3-70b", "--mem-util", "0"], "--mem-util"),
])
def test_new_options_validate(cli, args, words):
    result = cli(*args, code=2)
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_issue_commands_give_tables_and_json(cli):
    out = cli("analyze", "deepseek-v2-lite", "--gpu", "h100", "--attention", "flash", "--kv-dtype", "fp8").stdout
    assert "flash_attention" in out and "eager vs flash" in out
    doc = cli.json("analyze", "deepseek-v2-lite", "--gpu", "h100", "--attention", "flash", "--kv-dtype", "fp8")
    assert doc["memory"]["kv_cache_bytes_per_token"] == 27 * 576 * 1
    assert doc["memory"]["attention_scores_bytes_per_layer"] == 0
    plan_doc = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--context", "32k")
    assert plan_doc["plan"]["max_batch"] >= 1 and plan_doc["memory"]["fits"]
    assert "memory per GPU" in cli("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--context", "32k").stdout


def test_explain_kv_formulas_match_the_figures(cli):
    # MLA (absorbed): L*(r_kv + d_r)*b_kv = 27*(512+64)*2 = 31,104 B = 30.38 KiB
    text = cli("analyze", "deepseek-v2-lite", "--gpu", "h100", "--explain").stdout
    assert "kv_cache_bytes_per_token = L*(r_kv + d_r)*b_kv = 27*(512 + 64)*2 = 30.38 KiB" in text
    # Gemma 2: the sliding layers capped at the window, the full ones at the context, one expression
    path = os.path.join(DATA, "configs", "gemma2-2b")
    total = 13 * 2 * 4 * 256 * 2 * (4096 + 8192)
    doc = cli.json("analyze", path, "--gpu", "h100", "--context", "8192", "--explain")
    terms = {e["key"]: e for e in doc["explanation"]}
    per_seq = terms["memory.kv_cache_bytes_per_sequence"]
    assert per_seq["expr"] == "2*L_sliding*H_kv*d*b_kv*min(C, W_sliding) + 2*L_full*H_kv*d*b_kv*C"
    assert per_seq["bindings"] == {"L_sliding": 13, "H_kv": 4, "d": 256, "b_kv": 2, "C": 8192, "W_sliding": 4096,
                                   "L_full": 13}
    assert per_seq["value"] == total == doc["memory"]["kv_cache_bytes"]
