"""`rooflint generate`: a whole request with and without a KV cache, summed exactly.

The closed form is checked against the step-by-step sum it replaces (seed 001: without a cache
each new token recomputes the whole prefix, quadratic per step; with one, linear per step)."""

import csv
import io
import json
from dataclasses import replace

import pytest

from rooflint import SpecError, Workload, analyze, load_hardware, load_model
from rooflint.analysis.generation import generation

A100 = load_hardware("a100")


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def brute_force(model, hw, w):
    """The sums the closed form replaces, one analyze() per step."""
    first = analyze(model, hw, w)
    P, T = first.resolved.prompt, first.resolved.new_tokens
    cached = [first.prefill] + [analyze(model, hw, replace(w, context=P + i)).decode for i in range(1, T)]
    uncached = [analyze(model, hw, replace(w, prompt=P + i)).prefill for i in range(T)]
    return cached, uncached


CASES = [
    ("llama2-7b", {}, {}, 1, 512, 40),
    ("llama2-7b", {}, {}, 1, 16, 400),  # the projections of the uncached passes turn compute-bound at N = 216..223
    ("llama2-7b", {}, {}, 64, 8, 30),  # a big batch: decode matmuls compute-bound
    ("gpt2", {}, {}, 4, 5, 30),  # learned positions, LayerNorm, plain MLP
    ("mistral-7b", {"sliding_window": "100"}, {}, 2, 80, 60),  # the decode steps cross the window
    ("mistral-7b", {"sliding_window": "20"}, {}, 1, 80, 12),  # every decode step above the window
    ("deepseek-v2-lite", {}, {"mla_mode": "naive", "kv_dtype": "int4"}, 2, 40, 30),  # MLA, MoE, int4 KV
    # MoE: the expected experts a pass hits, E(1 - (1 - k/E)^(B N)), is not polynomial in N until it saturates
    ("mixtral-8x7b", {}, {}, 1, 1, 120),
    # flash attention: tile counts and split-KV chunks step with the length (quasi-polynomial, exact)
    ("gpt2", {}, {"attention": "flash"}, 1, 300, 300),
    ("llama3-8b", {}, {"attention": "flash"}, 3, 100, 200),
    ("mistral-7b", {"sliding_window": "100"}, {"attention": "flash"}, 2, 80, 60),
    ("deepseek-v2-lite", {}, {"attention": "flash"}, 1, 50, 80),  # absorbed MLA decode, split-KV over the latent
]


@pytest.mark.parametrize("name,overrides,extra,B,P,T", CASES)
def test_closed_form_equals_brute_force(name, overrides, extra, B, P, T):
    model = load_model(name, overrides)
    w = Workload(batch=B, prompt=P, new_tokens=T, **{"attention": "eager", **extra})
    g = generation(model, A100, w)
    cached, uncached = brute_force(model, A100, w)
    for got, steps in ((g.cached_flops, cached), (g.uncached_flops, uncached)):
        assert _rel(got, sum(p.flops for p in steps)) < 1e-12
    for got, steps in ((g.cached_bytes, cached), (g.uncached_bytes, uncached)):
        assert _rel(got, sum(p.bytes for p in steps)) < 1e-12
    for got, steps in ((g.cached_time_s, cached), (g.uncached_time_s, uncached)):
        assert _rel(got, sum(p.time_s for p in steps)) < 1e-12
    # op by op, bound by bound
    for total, steps in ((g.decode, cached[1:]), (g.recompute, uncached)):
        for o in total.ops:
            each = [t for p in steps for t in p.ops if t.op.name == o.name]
            assert _rel(o.time_s, sum(t.op.count * t.time_s for t in each)) < 1e-12 or o.time_s == 0
            assert o.compute_steps == sum(t.bound == "compute" for t in each)
    assert g.ttft_s == cached[0].time_s and g.uncached_time_s >= g.cached_time_s


def test_bound_switch_is_found():
    g = generation(load_model("llama2-7b"), A100, Workload(prompt=16, new_tokens=400, attention="eager"))
    q = next(o for o in g.recompute.ops if o.name == "q_proj")
    assert q.bound.startswith("memory→compute at ") and len(q.runs) == 2
    n = q.runs[1][0]
    before = analyze(load_model("llama2-7b"), A100, Workload(prompt=n - 1, attention="eager")).prefill
    after = analyze(load_model("llama2-7b"), A100, Workload(prompt=n, attention="eager")).prefill
    assert [t.bound for t in before.ops if t.op.name == "q_proj"] == ["memory"]
    assert [t.bound for t in after.ops if t.op.name == "q_proj"] == ["compute"]


def _passes_analysed(monkeypatch, *args):
    """generation() and the number of passes it analysed: its work, whatever the machine's load."""
    from rooflint.analysis import generation as module

    calls = []
    real = module.analyze
    monkeypatch.setattr(module, "analyze", lambda *a, **k: calls.append(1) or real(*a, **k))
    return generation(*args), len(calls)


@pytest.mark.parametrize("attention", ["eager", "flash"])
def test_any_request_length(attention, monkeypatch):
    """A billion new tokens in closed form (the sampled fit refused flash from 10^4 tokens): the
    passes analysed are as many for 10^9 tokens as for 10^3 (work, not wall time, is asserted)."""
    model, P, T = load_model("llama2-7b"), 512, 10**9
    g, work = _passes_analysed(monkeypatch, model, A100, Workload(prompt=P, new_tokens=T, attention=attention))
    _, small = _passes_analysed(monkeypatch, model, A100, Workload(prompt=P, new_tokens=10**3, attention=attention))
    assert work == small < 500
    # without a cache the pass over N tokens costs ~ c*N^2 FLOPs at large N (eager: the QK^T and PV
    # products, 4*H*d per N^2 and layer, and softmax's 5*H), so the sum is dominated by c * T^3 / 3;
    # c from three passes a multiple of flash's tiles (160 keys on an A100 at d = 128) apart
    step = 160 * 10**4
    f = [analyze(model, A100, Workload(prompt=10**8 + k * step, attention=attention)).prefill.flops for k in range(3)]
    c = (f[2] - 2 * f[1] + f[0]) / (2 * step**2)
    assert g.uncached_flops == pytest.approx(c * T**3 / 3, rel=1e-3)
    if attention == "eager":
        assert c == (4 * 128 + 5) * 32 * 32  # (2 matmuls x 2 FLOP x d + softmax 5) x H x L
    else:  # causal tiles skipped: about half the scores
        assert c == pytest.approx((4 * 128 + 5) * 32 * 32 / 2, rel=1e-3)
    assert g.decode.steps == T - 1 and g.recompute.steps == T


def test_cached_steps_grow_linearly_uncached_quadratically():
    model, P = load_model("llama2-7b"), 300
    g = generation(model, A100, Workload(prompt=P, new_tokens=200, attention="eager"))
    cached = [analyze(model, A100, Workload(prompt=P, context=P + i, attention="eager")).decode.flops
              for i in (10, 11, 12, 13)]
    uncached = [analyze(model, A100, Workload(prompt=P + i, attention="eager")).prefill.flops for i in (10, 11, 12, 13)]
    second = lambda v: [v[k + 2] - 2 * v[k + 1] + v[k] for k in range(len(v) - 2)]  # noqa: E731
    assert second(cached) == [0, 0] and cached[1] > cached[0]
    d2 = second(uncached)
    assert d2[0] == d2[1] > 0
    assert [g.decode.flops_at(P + i) for i in (10, 11, 12, 13)] == cached
    assert [g.recompute.flops_at(P + i) for i in (10, 11, 12, 13)] == uncached
    assert g.step_growth("decode") < 1.1 < 1.5 < g.step_growth("recompute")  # N: 301 -> 499


def test_ratio_grows_with_t():
    model = load_model("llama3-8b")
    runs = [generation(model, A100, Workload(prompt=128, new_tokens=T)) for T in (1, 2, 16, 128, 1024, 8192)]
    times = [g.uncached_time_s / g.cached_time_s for g in runs]
    flops = [g.uncached_flops / g.cached_flops for g in runs]
    assert times[0] == pytest.approx(1) and flops[0] == pytest.approx(1)
    assert all(a < b for a, b in zip(times, times[1:])) and all(a < b for a, b in zip(flops, flops[1:]))


def test_one_new_token_is_the_prefill_only():
    model = load_model("llama2-7b")
    g = generation(model, A100, Workload(prompt=300, batch=2, new_tokens=1))
    a = analyze(model, A100, Workload(prompt=300, batch=2))
    assert g.decode.steps == 0 and g.decode.flops == 0 and g.decode.time_s == 0
    assert (g.cached_flops, g.cached_time_s) == (a.prefill.flops, a.prefill.time_s)
    assert g.uncached_flops == pytest.approx(a.prefill.flops, rel=1e-12)
    assert g.uncached_time_s == pytest.approx(a.ttft_s, rel=1e-12)
    assert g.kv_context_end == 300 and g.kv_bytes_end == a.kv_bytes
    assert g.cached_tokens_per_s == 2 / a.ttft_s and g.step_growth("decode") is None


def test_kv_cache_at_the_end():
    g = generation(load_model("llama2-7b"), A100, Workload(prompt=512, batch=3, new_tokens=512))
    assert g.kv_context_end == 1023 and g.kv_bytes_end == 512 * 1024 * 1023 * 3
    w = generation(load_model("mistral-7b"), A100, Workload(prompt=4000, new_tokens=1000))
    assert w.kv_bytes_end == 128 * 1024 * 4096  # the window caps it


def test_moe_saturation_is_exact_and_bounded(monkeypatch):
    """E_hit = E(1 - (1 - k/E)^(B N)) decays to E: taken point by point while (1 - k/E)^(BN) >= 2^-64
    (N < 64 ln 2 / -ln(3/4) = 154 for Mixtral's 2 of 8), then the same polynomial for a billion passes."""
    g, work = _passes_analysed(monkeypatch, load_model("mixtral-8x7b"), A100,
                               Workload(prompt=1, new_tokens=10**9, attention="eager"))
    assert work < 500 and g.recompute.steps == 10**9
    experts = next(o for o in g.recompute.ops if o.name == "experts_gate_up")
    assert 150 < experts.bytes_forms[0].pieces < 200  # its weight bytes follow E_hit


# --- library and CLI errors --------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_library_rejects_bad_new_tokens(bad):
    with pytest.raises(SpecError, match="--new-tokens"):
        generation(load_model("gpt2"), A100, Workload(prompt=8, new_tokens=bad))


def test_library_rejects_a_cached_prefix():
    with pytest.raises(SpecError, match="--prefix"):
        generation(load_model("gpt2"), A100, Workload(prompt=8, prefix=4, new_tokens=4))


@pytest.mark.parametrize("args,option", [
    (["--new-tokens", "0"], "--new-tokens"), (["--new-tokens", "-5"], "--new-tokens"),
    (["--new-tokens", "many"], "--new-tokens"), (["--prompt", "0"], "--prompt"),
    (["--prompt", "1.5"], "--prompt"), (["--batch", "0"], "--batch"), (["--dtype", "fp7"], "--dtype"),
])
def test_cli_errors(cli, args, option):
    result = cli("generate", "gpt2", *args, code=2)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {option}") and "Traceback" not in result.output


# --- report ------------------------------------------------------------------------------------

def test_json(cli):
    doc = cli.json("generate", "llama2-7b", "--gpu", "a100", "--prompt", "512", "--new-tokens", "512", "--batch", "2")
    assert doc["schema"] == "rooflint.generate/2"
    assert {k: doc["settings"][k] for k in ("batch", "prompt", "new_tokens", "dtype", "kv_dtype", "attention")} == \
        {"batch": 2, "prompt": 512, "new_tokens": 512, "dtype": "fp16", "kv_dtype": "fp16", "attention": "flash"}
    w, wo = doc["with_cache"], doc["without_cache"]
    assert w["time_s"] == pytest.approx(w["ttft_s"] + w["decode_time_s"])
    assert w["tokens_per_s"] == pytest.approx(2 * 512 / w["time_s"])
    assert w["flops"] == pytest.approx(w["prefill"]["flops"] + w["decode"]["flops"])
    assert w["decode"]["steps"] == 511 and (w["decode"]["first_tokens"], w["decode"]["last_tokens"]) == (513, 1023)
    assert wo["recompute"]["steps"] == 512 and wo["recompute"]["first_tokens"] == 512
    assert doc["ratios"]["time"] == pytest.approx(wo["time_s"] / w["time_s"]) and doc["ratios"]["flops"] > 100
    assert [s["step"] for s in doc["per_step"]] == [0, 1, 511]
    assert doc["per_step"][2]["cached_flops"] / doc["per_step"][1]["cached_flops"] == pytest.approx(
        doc["step_flops_growth"]["cached"])
    assert doc["memory"]["kv_cache_bytes_end"] == 512 * 1024 * 1023 * 2
    assert sum(o["uncached_time_s"] for o in doc["ops"]) == pytest.approx(wo["time_s"])
    assert sum(o["cached_flops"] for o in doc["ops"]) == pytest.approx(w["flops"])
    assert sum(o["flops"] for o in w["decode"]["ops"].values()) == pytest.approx(w["decode"]["flops"])


def test_csv_markdown_explain_and_file(cli, tmp_path):
    rows = list(csv.DictReader(io.StringIO(cli("generate", "gpt2", "-p", "64", "-t", "64", "-f", "csv").stdout)))
    modes = {r["mode"]: r for r in rows if r["mode"]}
    assert set(modes) == {"with KV cache", "without KV cache"}
    assert float(modes["without KV cache"]["time_s"]) > float(modes["with KV cache"]["time_s"])  # raw numbers
    assert "| with KV cache |" in cli("generate", "gpt2", "-f", "markdown").stdout
    text = cli("generate", "llama2-7b", "--prompt", "512", "--new-tokens", "512", "--explain").stdout
    # each op's sum is its own expression under sum_over, e.g. q_proj's FLOPs over the 511 decode steps
    assert "with_cache.decode.ops.q_proj.flops = sum_over(C, 513, 1023, 64*B*S_q*D*H_q*d) = " in text
    target = tmp_path / "g.json"
    cli("generate", "gpt2", "-f", "json", "--explain", "-o", str(target))
    assert json.loads(target.read_text())["explanation"] and [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_generation_is_pure():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import rooflint.analysis.generation, sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert not set(out) & {"numpy", "rich", "typer", "yaml", "torch", "cupy"}


def test_flash_split_kv_appears_with_the_context():
    g = generation(load_model("gpt2"), A100, Workload(prompt=300, new_tokens=300, attention="flash"))
    reduce = next(o for o in g.decode.ops if o.name == "flash_decode_reduce")
    # split-KV needs at least two chunks of max(256, 2*(64+1)) = 256 keys: from C = 512 on
    assert reduce.flops > 0 and reduce.flops_form.at(511) == 0 and reduce.flops_form.at(512) > 0
