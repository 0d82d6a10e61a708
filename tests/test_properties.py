"""Invariants of the op model, checked over random shapes (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint import Workload, analyze, dtype, load_hardware
from rooflint.analysis.attention import eager_ops
from rooflint.analysis.kv_cache import kv_bytes, kv_bytes_per_token
from rooflint.analysis.ops import evaluate_op
from rooflint.analysis.roofline import place
from rooflint.specs import Model

A100 = load_hardware("a100")


@st.composite
def models(draw):
    kv = draw(st.integers(1, 16))
    groups = draw(st.integers(1, 8))
    d = draw(st.sampled_from([32, 64, 128, 256]))
    window = draw(st.one_of(st.none(), st.integers(16, 8192)))
    return Model(name="m", model_type="llama", num_hidden_layers=draw(st.integers(1, 96)),
                 hidden_size=kv * groups * d, num_attention_heads=kv * groups, num_key_value_heads=kv,
                 head_dim=d, intermediate_size=draw(st.integers(1, 50000)), vocab_size=draw(st.integers(1, 300000)),
                 sliding_window=window)


@given(models(), st.integers(1, 100_000), st.integers(1, 64))
def test_kv_linear_below_window_flat_above(m, context, batch):
    per_token = kv_bytes_per_token(m, 2)
    held = kv_bytes(m, 2, context, batch)
    if m.sliding_window is None or context <= m.sliding_window:
        assert held == per_token * context * batch
    else:
        assert held == kv_bytes(m, 2, m.sliding_window, batch) == kv_bytes(m, 2, context + 1, batch)


@given(models(), st.integers(1, 8))
def test_kv_follows_kv_heads_not_query_heads(m, extra_groups):
    from dataclasses import replace

    more_q = replace(m, num_attention_heads=m.num_key_value_heads * extra_groups)
    assert kv_bytes_per_token(more_q, 2) == kv_bytes_per_token(m, 2)
    mqa = replace(m, num_key_value_heads=1)
    assert kv_bytes_per_token(mqa, 2) * m.num_key_value_heads == kv_bytes_per_token(m, 2)


@given(st.integers(1, 1 << 20), st.sampled_from([64, 128, 256]))
def test_qk_intensity_below_d_and_rising(n, d):
    def eager(n):
        values = {"B": 1, "H_q": 1, "H_kv": 1, "S_q": n, "S_kv": n, "d": d, "d_v": d, "b_a": 2, "b_k": 2}
        return [evaluate_op(f, values) for f in eager_ops(1, "fp16")]

    qk, softmax, pv = eager(n)
    assert qk.intensity < d and pv.intensity < d
    assert softmax.intensity == 1.25
    assert eager(2 * n)[0].intensity > qk.intensity


@settings(max_examples=25, deadline=None)
@given(models(), st.integers(1, 64), st.integers(1, 8192), st.sampled_from(["fp16", "bf16", "int8"]))
def test_roofline_time_and_bound(m, batch, prompt, dt):
    a = analyze(m, A100, Workload(batch=batch, prompt=prompt, dtype=dtype(dt)))
    for t in a.prefill.ops + a.decode.ops:
        assert t.time_s >= t.op.flops / t.peak_flop_per_s
        assert t.time_s >= t.op.bytes / t.bandwidth_bytes_per_s
        if t.op.flops:
            assert (t.bound == "compute") == (t.op.intensity > t.ridge_point)
            assert (t.time_s == t.compute_time_s) == (t.bound == "compute") or t.compute_time_s == t.memory_time_s


@settings(max_examples=25, deadline=None)
@given(models(), st.integers(1, 16), st.integers(1, 4096))
def test_decode_grows_with_context(m, batch, context):
    short = analyze(m, A100, Workload(batch=batch, prompt=16, context=context))
    longer = analyze(m, A100, Workload(batch=batch, prompt=16, context=context + 512))
    assert longer.decode.bytes >= short.decode.bytes
    assert longer.tpot_s >= short.tpot_s


@given(st.integers(1, 512), st.integers(1, 512), st.integers(1, 512))
def test_gemm_placement(m, n, k):
    from rooflint.analysis.gemm import gemm_op

    t = place(gemm_op(m, n, k, dtype("fp16")), A100)
    assert t.attainable_flop_per_s <= 312e12
    assert t.time_s * t.attainable_flop_per_s >= t.op.flops * (1 - 1e-12)
