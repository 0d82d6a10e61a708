"""The analyzer: JSON contract, cross-derivations against closed forms, roofline arithmetic."""

import pytest

from rooflint import Workload, analyze, dtype, load_hardware, load_model
from rooflint.analysis.params import parameter_breakdown, parameter_count


@pytest.fixture(scope="module")
def doc():
    import json

    from typer.testing import CliRunner

    from rooflint.cli import app

    out = CliRunner().invoke(app, ["analyze", "llama2-7b", "--gpu", "a100", "--format", "json", "--attention", "eager",
                                   "--prompt", "2048", "--batch", "4", "--context", "3000"])
    return json.loads(out.stdout)


def test_json_contract(doc):
    assert doc["schema"] == "rooflint.analyze/2"
    assert doc["model"]["params"] == 6_738_415_616
    assert doc["hardware"]["ridge_point"] == pytest.approx(312e12 / 1555e9)
    assert doc["settings"].items() >= {"batch": 4, "prompt": 2048, "context": 3000, "dtype": "fp16",
                                       "kv_dtype": "fp16", "attention": "eager", "all_logits": False}.items()
    for key in ("weights_bytes", "kv_cache_bytes_per_token", "kv_cache_bytes", "attention_scores_bytes_per_layer"):
        assert isinstance(doc["memory"][key], (int, float))
    for phase in ("prefill", "decode"):
        p = doc["phases"][phase]
        ops = p["ops"]
        assert {"name", "scope", "count", "flops", "bytes_read", "bytes_written", "intensity", "bound", "time_s"} <= set(ops[0])
        assert sum(o["count"] * o["flops"] for o in ops) == pytest.approx(p["flops"])
        assert sum(o["count"] * (o["bytes_read"] + o["bytes_written"]) for o in ops) == pytest.approx(p["bytes"])
        assert sum(o["count"] * o["time_s"] for o in ops) == pytest.approx(p["time_s"])
        assert {o["scope"] for o in ops} == {"layer", "model"}


def test_memory_figures(doc):
    # KV: 512 KiB/token x 3000 tokens x 4 sequences; S+P per layer: 2 * B * H * P^2 * 2 B
    assert doc["memory"]["kv_cache_bytes"] == 524288 * 3000 * 4
    assert doc["memory"]["attention_scores_bytes_per_layer"] == 2 * 4 * 32 * 2048**2 * 2
    assert doc["memory"]["weights_bytes"] == 6_738_415_616 * 2


def _run(name="llama2-7b", gpu="a100", **kw):
    """Eager attention unless asked: these tests count its three kernels."""
    return analyze(load_model(name), load_hardware(gpu), Workload(**{"attention": "eager", **kw}))


@pytest.mark.parametrize("name", ["llama2-7b", "llama3-8b", "qwen2.5-7b", "gpt2", "falcon-7b", "mistral-7b"])
def test_prefill_flops_closed_form(name):
    """Matmul FLOPs = 2 * tokens * (linear-layer weights) + attention 4*B*H*P^2*d*L + lm_head (+ biases)."""
    m = load_model(name)
    B, P = 2, 512
    a = _run(name, batch=B, prompt=P)
    parts = parameter_breakdown(m)
    linear = parts["attention"] + parts["mlp"]
    biases = sum(1 for b in (m.qkv_bias, m.o_bias, m.mlp_bias) if b)  # bias adds counted as FLOPs
    matmul = sum(t.op.count * t.op.flops for t in a.prefill.ops if t.op.kind == "matmul")
    expected = 2 * B * P * linear + 4 * B * m.num_attention_heads * P * P * m.head_dim * m.num_hidden_layers \
        + 2 * B * m.hidden_size * m.vocab_size
    if not biases and not m.qk_norm:
        assert matmul == expected
    else:  # bias adds and qk-norm weights are a sliver on top
        assert matmul == pytest.approx(expected, rel=1e-3)


def test_decode_reads_every_weight_once():
    """A decode step reads each linear weight once for the whole batch:
    sum over projections of (bytes read - activation input T*in*b_a) = linear params * b_w."""
    m = load_model("llama2-7b")
    parts = parameter_breakdown(m)
    linear = parts["attention"] + parts["mlp"] + parts["lm_head"]
    for batch in (1, 8):
        a = _run(batch=batch, prompt=16, context=16)
        weights = 0
        for t in a.decode.ops:
            if t.op.name.endswith("proj") or t.op.name == "lm_head":
                rows = t.op.symbols["T_lm" if t.op.name == "lm_head" else "T"]  # lm_head: last positions only
                activation_in = rows * _in_features(t.op.name, m) * t.op.symbols["b_a"]
                weights += t.op.count * (t.op.bytes_read - activation_in)
        assert weights == linear * 2


def _in_features(name, m):
    return {"down_proj": m.intermediate_size, "o_proj": m.num_attention_heads * m.head_dim}.get(name, m.hidden_size)


def test_decode_is_memory_bound_at_batch_1():
    a = _run(batch=1)
    matmuls = [t for t in a.decode.ops if t.op.kind == "matmul"]
    assert all(t.bound == "memory" for t in matmuls)
    # ~13.2 GB of weights + 2 GiB KV over 1555 GB/s ~ 9.9 ms: time is bytes/BW when all ops are memory-bound
    assert a.tpot_s == pytest.approx(a.decode.bytes / 1555e9, rel=1e-3)


def test_prefill_projections_compute_bound():
    a = _run(prompt=4096)
    q = next(t for t in a.prefill.ops if t.op.name == "q_proj")
    assert q.bound == "compute" and q.time_s == pytest.approx(q.op.flops / 312e12)


def test_lm_head_all_positions():
    last = _run(prompt=1000)
    every = _run(prompt=1000, all_logits=True)
    f = lambda a: next(t.op.flops for t in a.prefill.ops if t.op.name == "lm_head")
    assert f(every) == 1000 * f(last) == 1000 * 2 * 4096 * 32000


def test_gqa_reads_kv_once_per_kv_head():
    mha = _run(context=4096, batch=1)
    gqa = analyze(load_model("llama2-7b", {"num_key_value_heads": "8"}), load_hardware("a100"),
                  Workload(context=4096, attention="eager"))
    qk = lambda a: next(t.op for t in a.decode.ops if t.op.name == "qk_matmul")
    assert qk(mha).flops == qk(gqa).flops  # FLOPs follow query heads
    k_bytes = lambda op: op.bytes_read - op.symbols["B"] * op.symbols["H_q"] * op.symbols["d"] * 2
    assert k_bytes(qk(mha)) == 4 * k_bytes(qk(gqa))  # K bytes follow KV heads


def test_sliding_window_caps_decode_attention():
    a = _run("mistral-7b", prompt=1024, context=32768)
    qk = next(t.op for t in a.decode.ops if t.op.name == "qk_matmul")
    assert qk.symbols["S_kv"] == 4096
    assert a.kv_bytes == 131072 * 4096  # 128 KiB/token x window 4096 = 512 MiB
    assert any("sliding window" in n for n in a.notes)


def test_fp32_and_bf16(cli):
    a = _run(dtype=dtype("fp32"))
    assert a.weights_bytes == parameter_count(load_model("llama2-7b")) * 4
    assert a.kv_bytes_per_token == 2 * 32 * 32 * 128 * 4


def test_default_prompt_capped_at_model_max(cli):
    out = cli.json("analyze", "gpt2", "--gpu", "h100")
    assert out["settings"]["prompt"] == 1024


def test_dtype_fp8_stores_the_linear_weights_in_fp8(cli):
    """--dtype sets the weights unless --weight-dtype is given: fp8 halves the linear layers
    (llama3-70b: 68.5 G of its 70.6 G parameters; embedding and lm_head stay 16-bit), as
    --weight-dtype fp8 does. (It once kept them at 16 bits while reporting fp8.)"""
    def weights(*args):
        return cli.json("analyze", "llama3-70b", "--gpu", "h100", *args)["memory"]["weights_bytes"]
    fp16, fp8 = weights(), weights("--dtype", "fp8")
    assert fp8 == weights("--dtype", "fp8", "--weight-dtype", "fp8")
    embed = 128256 * 8192  # vocabulary x hidden, once for the embedding and once for lm_head
    assert fp8 == pytest.approx((fp16 - 4 * embed) / 2 + 4 * embed, rel=1e-3)
