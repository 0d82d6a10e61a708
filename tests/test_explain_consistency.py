"""Every `--explain` line is the figure's own expression: evaluated with its bindings (by the small
evaluator below, independent of rooflint's: floor_sum and sum_over are brute-force loops here) it
gives the figure's value, and that value is the one the report's JSON holds at the term's key."""

import ast
import math
import os

import pytest
from conftest import DATA

FIXTURE = os.path.join(DATA, "measurements", "cpu-quick.json")
MODELS = ["llama2-7b", "llama3-8b", "falcon-7b", "deepseek-v2-lite", "mixtral-8x7b", "mistral-7b",
          os.path.join(DATA, "configs", "gemma2-2b"),  # MHA, GQA, MQA, MLA (+MoE), MoE, sliding window, alternating
          *(os.path.join(DATA, "configs", c) for c in (
              "gpt-oss-20b",  # MXFP4 experts, biases, sinks, alternating 128 window
              "qwen3-next-80b-a3b",  # linear-attention state, gated attention, gated shared expert
              "llama-4-scout",  # chunked local attention, NoPE layers, vision apart
              "deepseek-v3",  # fp8 block scales, MTP in the checkpoint
              "phi-4-mini"))]  # fused qkv and gate_up, partial rotary


def _floor_sum(n, m, a, b):
    return sum((a * j + b) // m for j in range(int(n)))


FUNCTIONS = {"min": min, "max": max, "ceil": math.ceil, "floor": math.floor, "floor_sum": _floor_sum}
BINARY = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
          ast.Div: lambda x, y: x / y, ast.Pow: lambda x, y: x ** y, ast.FloorDiv: lambda x, y: x // y}


def evaluate(text: str, bindings: dict):
    """Arithmetic on names, min/max/ceil/floor, floor_sum and sum_over(var, lo, hi, body)."""
    def ev(node, env):
        if isinstance(node, ast.Expression):
            return ev(node.body, env)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            return BINARY[type(node.op)](ev(node.left, env), ev(node.right, env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand, env)
        if isinstance(node, ast.Call) and node.func.id == "sum_over":
            var, lo, hi, body = node.args
            return sum(ev(body, {**env, var.id: k}) for k in range(ev(lo, env), ev(hi, env) + 1))
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*(ev(a, env) for a in node.args))
        raise AssertionError(f"unexpected {ast.dump(node)} in {text}")
    return ev(ast.parse(text, mode="eval"), dict(bindings))


def lookup(doc, key: str):
    """The value at a term's key: dotted names, list indices in brackets."""
    value = doc
    for part in key.split("."):
        name, _, index = part.partition("[")
        if name:
            value = value[name]
        if index:
            value = value[int(index.rstrip("]"))]
    return value


def assert_consistent(doc):
    entries = doc["explanation"]
    assert entries, "no explanation"
    for e in entries:
        got = evaluate(e["expr"], e["bindings"])
        assert got == pytest.approx(e["value"], rel=1e-9, abs=1e-300), (e["key"], e["expr"], got, e["value"])
        shown = lookup(doc, e["key"])
        if isinstance(shown, bool):
            continue
        assert shown == pytest.approx(e["value"], rel=1e-12, abs=1e-300), (e["key"], shown, e["value"])
    return entries


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("attention", ["eager", "flash"])
@pytest.mark.parametrize("kv", ["fp16", "fp8", "int4"])
def test_analyze(cli, model, attention, kv):
    doc = cli.json("analyze", model, "--gpu", "h100", "--attention", attention, "--kv-dtype", kv, "--prompt", "300",
                   "--context", "5000", "--batch", "3", "--explain")
    keys = {e["key"] for e in assert_consistent(doc)}
    # every op's FLOPs, bytes and time, and every memory and total figure, is explained
    for phase in ("prefill", "decode"):
        for i, _ in enumerate(doc["phases"][phase]["ops"]):
            assert {f"phases.{phase}.ops[{i}].{k}" for k in ("flops", "bytes_read", "bytes_written", "time_s")} <= keys
    assert {f"memory.{k}" for k in doc["memory"] if k not in ("capacity_bytes", "fits")} <= keys
    assert {f"totals.{k}" for k in doc["totals"]} <= keys


@pytest.mark.parametrize("model", MODELS)
def test_kv_and_plan(cli, model):
    assert_consistent(cli.json("kv", model, "--context", "1k,5000", "--kv-dtype", "int4", "--explain"))
    for attention in ("eager", "flash"):
        assert_consistent(cli.json("plan", model, "--gpu", "h100", "--context", "3000", "--chunk", "1024",
                                   "--attention", attention, "--explain"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("attention", ["eager", "flash"])
def test_generate(cli, model, attention):
    doc = cli.json("generate", model, "--gpu", "a100", "--prompt", "16", "--new-tokens", "6", "--batch", "2",
                   "--attention", attention, "--explain")
    entries = assert_consistent(doc)
    assert any(e["expr"].startswith("sum_over(C,") for e in entries)
    assert any(e["expr"].startswith("sum_over(N,") for e in entries)


@pytest.mark.parametrize("args", [
    ["gemm", "4096", "4096", "4096", "--gpu", "a100"],
    ["attention", "--gpu", "h100", "--seq", "512,2048", "--head-dim", "128", "--heads", "4"],
    ["attention", "--seq", "1024"],
    ["hardware"], ["hardware", "mi300x"], ["models"], ["models", "deepseek-v3"],
    ["paged", os.path.join(DATA, "configs", "gemma2-2b"), "--lengths", "100,5000,8000",
     "--memory", "20GiB"],
    ["check", os.path.join(os.path.dirname(DATA), "..", "examples", "budget.yaml")],
    ["sweep", "-m", "llama3-8b,mistral-7b", "-g", "a100,h100", "-b", "1,64", "-c", "4k,32k"],
    ["measure", "--load", FIXTURE],
    ["analyze", "deepseek-v2-lite", "--mla-mode", "expand", "--prompt", "300", "--context", "5000", "--batch", "3"],
    ["generate", "deepseek-v2-lite", "--mla-mode", "expand", "--prompt", "16", "--new-tokens", "6", "--gpu", "a100"],
    ["paged", os.path.join(DATA, "configs", "qwen3-next-80b-a3b"), "--lengths", "100,5000"],
])
def test_other_commands(cli, args):
    assert_consistent(cli.json(*args, "--explain"))


def test_the_text_shows_the_same_lines(cli):
    args = ["analyze", "mixtral-8x7b", "--gpu", "h100", "--prompt", "300", "--explain"]
    doc, text = cli.json(*args), cli(*args).stdout
    for e in doc["explanation"]:
        name = e["key"].rsplit("].", 1)[-1]
        assert f"{name} = {e['expr']}" in text, e["key"]
