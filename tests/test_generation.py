"""`rooflint generate`: a whole request with and without a KV cache, summed in closed form.

The closed form is checked against the step-by-step sum it replaces (seed 001: without a cache
each new token recomputes the whole prefix, quadratic per step; with one, linear per step)."""

import csv
import io
import json
import time
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from rooflint import Settings, SpecError, analyze, dtype, load_hardware, load_model
from rooflint.analysis import generation as gen_module
from rooflint.analysis.generation import bound_runs, generation, poly_at, poly_sum, power_sum
from rooflint.analysis.inference import PhaseResult
from rooflint.analysis.ops import MATMUL, make_op
from rooflint.analysis.roofline import place
from rooflint.analysis.transformer import decode_pass

A100 = load_hardware("a100")


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def brute_force(model, hw, s, T):
    """The sums the closed form replaces, one analyze() per step."""
    first = analyze(model, hw, s)
    cached = [first.prefill] + [analyze(model, hw, replace(s, context=s.prompt + i)).decode for i in range(1, T)]
    uncached = [analyze(model, hw, replace(s, prompt=s.prompt + i)).prefill for i in range(T)]
    return cached, uncached


CASES = [
    ("llama2-7b", {}, {}, 1, 512, 40),
    ("llama2-7b", {}, {}, 1, 16, 400),  # the projections of the uncached passes turn compute-bound at N = 216..223
    ("llama2-7b", {}, {}, 64, 8, 30),  # a big batch: decode matmuls compute-bound
    ("gpt2", {}, {}, 4, 5, 30),  # learned positions, LayerNorm, plain MLP
    ("mistral-7b", {"sliding_window": "100"}, {}, 2, 80, 60),  # the decode steps cross the window
    ("mistral-7b", {"sliding_window": "82"}, {}, 1, 80, 12),  # a piece of two steps below the window
    ("mistral-7b", {"sliding_window": "20"}, {}, 1, 80, 12),  # every decode step above the window
    ("deepseek-v2-lite", {}, {"mla_mode": "naive", "kv_dtype": dtype("int4")}, 2, 40, 30),  # MLA, MoE, int4 KV
    # MoE: the expected experts a pass hits, E(1 - (1 - k/E)^(B N)), is not polynomial in N until it saturates
    ("mixtral-8x7b", {}, {}, 1, 1, 120),
    # flash attention: tile counts and split-KV chunks step with the length; those pieces go step by step
    ("gpt2", {}, {"attention": "flash"}, 1, 300, 300),
]


@pytest.mark.parametrize("name,overrides,extra,B,P,T", CASES)
def test_closed_form_equals_brute_force(name, overrides, extra, B, P, T):
    model = load_model(name, overrides)
    s = Settings(batch=B, prompt=P, **extra)
    g = generation(model, A100, s, T)
    cached, uncached = brute_force(model, A100, s, T)
    for got, steps in ((g.cached_flops, cached), (g.uncached_flops, uncached)):
        assert _rel(got, sum(p.flops for p in steps)) < 1e-9
    for got, steps in ((g.cached_bytes, cached), (g.uncached_bytes, uncached)):
        assert _rel(got, sum(p.bytes for p in steps)) < 1e-9
    for got, steps in ((g.cached_time_s, cached), (g.uncached_time_s, uncached)):
        assert _rel(got, sum(p.time_s for p in steps)) < 1e-9
    # op by op, bound by bound
    for total, steps in ((g.decode, cached[1:]), (g.recompute, uncached)):
        for o in total.ops:
            each = [t for p in steps for t in p.ops if t.op.name == o.name]
            assert _rel(o.time_s, sum(t.op.count * t.time_s for t in each)) < 1e-9
            assert o.compute_steps == sum(t.bound == "compute" for t in each)
    assert g.ttft_s == cached[0].time_s and g.uncached_time_s >= g.cached_time_s
    if not extra and name != "mixtral-8x7b":  # plain dense eager models: all in closed form
        assert g.decode.explicit_steps <= 4 and g.recompute.explicit_steps <= 4
        assert not g.decode.irregular and not g.recompute.irregular


def test_bound_switch_is_found():
    g = generation(load_model("llama2-7b"), A100, Settings(prompt=16), 400)
    q = next(o for o in g.recompute.ops if o.name == "q_proj")
    assert q.bound.startswith("memory→compute at ") and len(q.runs) == 2
    n = q.runs[1][0]
    before = analyze(load_model("llama2-7b"), A100, Settings(prompt=n - 1)).prefill
    after = analyze(load_model("llama2-7b"), A100, Settings(prompt=n)).prefill
    assert [t.bound for t in before.ops if t.op.name == "q_proj"] == ["memory"]
    assert [t.bound for t in after.ops if t.op.name == "q_proj"] == ["compute"]


def test_runs_in_o_ops_not_o_t(monkeypatch):
    model = load_model("llama2-7b")
    calls = []
    real = gen_module.analyze
    monkeypatch.setattr(gen_module, "analyze", lambda *a: calls.append(1) or real(*a))
    generation(model, A100, Settings(prompt=512), 1000)
    small = len(calls)
    calls.clear()
    start = time.perf_counter()
    g = generation(model, A100, Settings(prompt=512), 10**9)
    assert time.perf_counter() - start < 1.0 and len(calls) == small < 30
    # a billion steps: the FLOPs are dominated by the quadratic term c * sum N^2 ~ c * T^3 / 3
    c = g.recompute.pieces[0].flops[2]
    assert g.uncached_flops == pytest.approx(float(c) * (10**9) ** 3 / 3, rel=1e-3)


def test_cached_steps_grow_linearly_uncached_quadratically():
    model, P = load_model("llama2-7b"), 300
    g = generation(model, A100, Settings(prompt=P), 200)
    cached = [analyze(model, A100, Settings(prompt=P, context=P + i)).decode.flops for i in (10, 11, 12, 13)]
    uncached = [analyze(model, A100, Settings(prompt=P + i)).prefill.flops for i in (10, 11, 12, 13)]
    second = lambda v: [v[k + 2] - 2 * v[k + 1] + v[k] for k in range(len(v) - 2)]  # noqa: E731
    assert second(cached) == [0, 0] and cached[1] > cached[0]
    d2 = second(uncached)
    assert d2[0] == d2[1] > 0
    # and the fitted polynomials say the same: degree 1 in C, degree 2 in N with 2c = the second difference
    (dec,), (rec,) = g.decode.pieces, g.recompute.pieces
    assert dec.flops[2] == 0 and dec.flops[1] > 0 and 2 * rec.flops[2] == d2[0]
    assert [g.decode.flops_at(P + i) for i in (10, 11, 12, 13)] == cached
    assert [g.recompute.flops_at(P + i) for i in (10, 11, 12, 13)] == uncached
    assert g.step_growth("decode") < 1.1 < 1.5 < g.step_growth("recompute")  # N: 301 -> 499


def test_ratio_grows_with_t():
    model = load_model("llama3-8b")
    ratios = [generation(model, A100, Settings(prompt=128), T) for T in (1, 2, 16, 128, 1024, 8192)]
    times = [g.uncached_time_s / g.cached_time_s for g in ratios]
    flops = [g.uncached_flops / g.cached_flops for g in ratios]
    assert times[0] == flops[0] == 1
    assert all(a < b for a, b in zip(times, times[1:])) and all(a < b for a, b in zip(flops, flops[1:]))


def test_one_new_token_is_the_prefill_only():
    model = load_model("llama2-7b")
    g = generation(model, A100, Settings(prompt=300, batch=2), 1)
    a = analyze(model, A100, Settings(prompt=300, batch=2))
    assert g.decode.steps == 0 and g.decode.flops == 0 and g.decode.time_s == 0
    assert (g.cached_flops, g.cached_time_s) == (a.prefill.flops, a.prefill.time_s)
    assert g.uncached_flops == pytest.approx(a.prefill.flops, rel=1e-12)
    assert g.uncached_time_s == pytest.approx(a.ttft_s, rel=1e-12)
    assert g.kv_context_end == 300 and g.kv_bytes_end == a.kv_bytes
    assert g.cached_tokens_per_s == 2 / a.ttft_s and g.step_growth("decode") is None


def test_kv_cache_at_the_end():
    g = generation(load_model("llama2-7b"), A100, Settings(prompt=512, batch=3), 512)
    assert g.kv_context_end == 1023 and g.kv_bytes_end == 512 * 1024 * 1023 * 3
    w = generation(load_model("mistral-7b"), A100, Settings(prompt=4000), 1000)
    assert w.kv_bytes_end == 128 * 1024 * 4096  # the window caps it


# --- closed-form pieces ------------------------------------------------------------------------

@given(st.integers(0, 2), st.integers(-50, 3000), st.integers(0, 200))
@hyp_settings(max_examples=60, deadline=None)
def test_power_sum(k, lo, width):
    assert power_sum(k, lo, lo + width) == sum(n**k for n in range(lo, lo + width + 1))
    assert power_sum(k, lo, lo - 1) == 0


@given(st.tuples(*[st.fractions(-10**6, 10**6, max_denominator=50)] * 3), st.integers(1, 2000), st.integers(0, 300))
@hyp_settings(max_examples=150, deadline=None)
def test_bound_runs_match_the_sign_of_every_step(g, lo, width):
    runs = bound_runs(g, lo, lo + width)
    assert runs[0][0] == lo and runs[-1][1] == lo + width
    assert all(a[1] + 1 == b[0] and a[2] != b[2] for a, b in zip(runs, runs[1:]))
    for a, b, positive in runs:
        assert all((poly_at(g, n) > 0) == positive for n in range(a, b + 1))
    assert poly_sum(g, lo, lo + width) == sum(poly_at(g, n) for n in range(lo, lo + width + 1))


def test_quadratic_with_two_crossings():
    g = (Fraction(1000 * 1200), Fraction(-2200), Fraction(1))  # (n - 1000)(n - 1200)
    assert bound_runs(g, 1, 10**6) == [(1, 999, True), (1000, 1200, False), (1201, 10**6, True)]


def _cubic(n):
    s = {"n": n}
    op = make_op("tiled", "layer", 1, MATMUL, "fp16", s, flops="n*n*n", read="n", write="n")
    return PhaseResult("decode", decode_pass(1, n), (place(op, A100),))


def test_a_cost_that_is_not_polynomial_is_summed_step_by_step_or_refused():
    total = gen_module._step_sum("decode", 10, 200, _cubic, [])
    assert total.irregular == ("tiled flops",) and total.explicit_steps == 191
    assert total.flops == sum(n**3 for n in range(10, 201))
    assert _rel(total.time_s, sum(_cubic(n).time_s for n in range(10, 201))) < 1e-12
    with pytest.raises(SpecError, match="tiled: flops is not a polynomial .* more than 1024 evaluations"):
        gen_module._step_sum("decode", 10, 10**6, _cubic, [])


def test_moe_saturation_is_bounded_work():
    g = generation(load_model("mixtral-8x7b"), A100, Settings(prompt=1), 10**9)
    assert 0 < g.recompute.explicit_steps < 200 and g.recompute.steps == 10**9
    assert any("taken one by one" in n for n in g.notes)


# --- library and CLI errors --------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_library_rejects_bad_new_tokens(bad):
    with pytest.raises(SpecError, match="--new-tokens"):
        generation(load_model("gpt2"), A100, Settings(prompt=8), bad)


def test_library_rejects_a_cached_prefix():
    with pytest.raises(SpecError, match="--prefix"):
        generation(load_model("gpt2"), A100, Settings(prompt=8, prefix=4), 4)


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
    assert doc["schema"] == "rooflint.generate/1"
    assert doc["settings"] == {"batch": 2, "prompt": 512, "new_tokens": 512, "dtype": "fp16", "kv_dtype": "fp16"}
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
    piece = w["decode"]["pieces"][0]
    assert piece["flops_coefficients"][2] == 0 and piece["first_step"] == 1


def test_csv_markdown_explain_and_file(cli, tmp_path):
    rows = list(csv.DictReader(io.StringIO(cli("generate", "gpt2", "-p", "64", "-t", "64", "-f", "csv").stdout)))
    modes = {r["mode"]: r for r in rows if r["mode"]}
    assert set(modes) == {"with KV cache", "without KV cache"}
    assert float(modes["without KV cache"]["time_s"]) > float(modes["with KV cache"]["time_s"])  # raw numbers
    assert "| with KV cache |" in cli("generate", "gpt2", "-f", "markdown").stdout
    text = cli("generate", "llama2-7b", "--prompt", "512", "--new-tokens", "512", "--explain").stdout
    assert "Σ_{i=1}^{511} FLOPs(P+i) = K·(a + b·P) + b·Σi" in text
    assert "Σ_{i=0}^{511} FLOPs(P+i) = K·(a + b·P + c·P²) + (b + 2c·P)·Σi + c·Σi²" in text
    target = tmp_path / "g.json"
    cli("generate", "gpt2", "-f", "json", "--explain", "-o", str(target))
    assert json.loads(target.read_text())["explanation"] and [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_generation_is_pure():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import rooflint.analysis.generation, sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert not set(out) & {"numpy", "rich", "typer", "yaml", "torch", "cupy"}


def test_flash_pieces_are_found():
    g = generation(load_model("gpt2"), A100, Settings(prompt=300, attention="flash"), 300)
    assert g.recompute.irregular and 0 < g.recompute.explicit_steps < 150  # tiles step at multiples of B_r, B_c
    assert "flash_decode_reduce" in {o.name for o in g.decode.ops}  # split-KV from C = 512 on
