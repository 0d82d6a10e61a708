"""Paged KV cache (vLLM PagedAttention) vs contiguous preallocation: figures pinned by hand counts.

Expected numbers are counted in the tests (2 (K,V) * layers * KV heads * head_dim * bytes per
element per token; ceil(len/B) blocks per sequence), or drawn with numpy's own generator.
"""

import ast
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint.analysis.paged import CHUNK, LengthDraw, draw_lengths, plan_paged
from rooflint.errors import SpecError
from rooflint.report.paged_views import paged_report
from rooflint.specs.catalog import load_model
from rooflint.workload import Workload

LLAMA2_7B = load_model("llama2-7b")
PER_TOKEN_7B = 2 * 32 * 32 * 128 * 2  # 2 (K,V) * L * H_kv * d * 2 B = 524288 B = 512 KiB
GEMMA2 = os.path.join(DATA, "configs", "gemma2-2b")  # 26 layers alternating sliding (window 4096) and full


def _rows(data):
    return {r["scheme"]: r for r in data["rows"]}


def test_llama2_7b_blocks_by_hand(cli):
    data = cli.json("paged", "llama2-7b", "--lengths", "1,16,17")
    assert data["schema"] == "rooflint.paged/2"
    assert data["kv_cache_bytes_per_token"] == PER_TOKEN_7B == 524288
    s = data["settings"]
    assert s["block_size"] == 16 and s["max_len"] == 4096  # model's max_position_embeddings
    assert s["kv_dtype"] == "fp16" and s["kv_bytes_per_element"] == 2 and s["num_seqs"] == 3
    assert data["blocks"] == 1 + 1 + 2 and data["block_bytes"] == 16 * PER_TOKEN_7B
    assert data["lengths"] == [1, 16, 17] and data["draw"] is None
    assert data["length_stats"] == {"min": 1, "mean": 34 / 3, "median": 16, "max": 17, "sum": 34}
    rows = _rows(data)
    assert rows["needed"]["tokens"] == 1 + 16 + 17
    assert rows["paged"]["tokens"] == 16 + 16 + 32 == 64
    assert rows["paged"]["bytes"] == 64 * PER_TOKEN_7B
    assert rows["paged"]["waste_bytes"] == (15 + 0 + 15) * PER_TOKEN_7B
    assert rows["paged"]["waste_bound_bytes"] == 3 * 15 * PER_TOKEN_7B  # N*(B-1) slots at most
    assert rows["paged"]["waste_share"] == pytest.approx(30 / 64)
    assert rows["contiguous"]["tokens"] == 3 * 4096
    assert rows["contiguous"]["bytes"] == 3 * 4096 * PER_TOKEN_7B
    assert rows["contiguous"]["waste_bytes"] == ((4096 - 1) + (4096 - 16) + (4096 - 17)) * PER_TOKEN_7B
    assert rows["contiguous"]["waste_share"] == pytest.approx(1 - 34 / (3 * 4096))
    assert rows["needed"]["waste_bytes"] == 0 and rows["needed"]["fits"] is None and data["fit_ratio"] is None
    (group,) = data["groups"]
    assert group["window"] is None and group["layers"] == 32 and group["blocks"] == 4
    assert group["needed_tokens"] == 34 and group["paged_tokens"] == 64 and group["contiguous_tokens"] == 3 * 4096


def test_contiguous_waste_is_sum_of_max_len_minus_len():
    lengths = [100, 2000, 37, 4096]
    plan = plan_paged(LLAMA2_7B, lengths, Workload(max_len=4096), block_size=32)
    assert plan.waste_bytes("contiguous") == sum(4096 - n for n in lengths) * PER_TOKEN_7B
    assert plan.paged_bytes == sum(math.ceil(n / 32) * 32 for n in lengths) * PER_TOKEN_7B
    assert plan.needed_bytes == sum(lengths) * PER_TOKEN_7B


def test_memory_fit(cli):
    # contiguous: 4096 tokens * 512 KiB = 2 GiB per sequence -> 10 in 20 GiB;
    # paged: 64 slots * 512 KiB = 32 MiB for the three -> floor(20 GiB * 3 / 32 MiB) = 1920
    data = cli.json("paged", "llama2-7b", "--lengths", "1,16,17", "--memory", "20 GiB")
    rows = _rows(data)
    assert rows["contiguous"]["fits"] == 10
    assert rows["paged"]["fits"] == 20 * 1024 * 3 // 32 == 1920
    assert rows["needed"]["fits"] == 20 * 2**30 * 3 // (34 * PER_TOKEN_7B)
    assert data["fit_ratio"] == 1920 / 10 and data["settings"]["memory_bytes"] == 20 * 2**30
    assert all(isinstance(r["fits"], int) for r in data["rows"])
    table = cli("paged", "llama2-7b", "--lengths", "1,16,17", "--memory", "20 GiB").stdout
    assert "1,920 sequences of this mix fit paged, 10 contiguous (192.00x)" in table


def test_kv_dtype_and_block_size_options(cli):
    data = cli.json("paged", "llama3-8b", "--lengths", "100", "--kv-dtype", "fp8", "--block-size", "32")
    per_token = 2 * 32 * 8 * 128 * 1
    assert data["kv_cache_bytes_per_token"] == per_token and data["block_bytes"] == 32 * per_token
    assert _rows(data)["paged"]["bytes"] == 128 * per_token  # ceil(100/32) = 4 blocks
    assert data["settings"]["max_len"] == 8192


@pytest.mark.parametrize("extra, per_element", [
    ([], 0.5 + 2 / 64),  # int4 with one fp16 scale per 64 elements (KIVI-style groups)
    (["--kv-group-size", "32"], 0.5 + 2 / 32),
])
def test_int4_kv_includes_its_scales_like_analyze(cli, extra, per_element):
    per_token = 2 * 32 * 8 * 128 * per_element  # 34,816 B with groups of 64; 0.5 B alone would be 32,768
    data = cli.json("paged", "llama3-8b", "--lengths", "100,2000", "--kv-dtype", "int4", *extra)
    assert data["kv_cache_bytes_per_token"] == per_token
    assert data["settings"]["kv_bytes_per_element"] == per_element
    assert _rows(data)["needed"]["bytes"] == 2100 * per_token
    assert _rows(data)["paged"]["bytes"] == (7 + 125) * 16 * per_token  # ceil(100/16) + ceil(2000/16) blocks
    analyzed = cli.json("analyze", "llama3-8b", "--kv-dtype", "int4", *extra)
    assert analyzed["memory"]["kv_cache_bytes_per_token"] == per_token


def test_mla_caches_the_latent():
    # DeepSeek-V2-Lite caches c_KV (kv_lora_rank 512) + the RoPE key (64) per layer, 27 layers,
    # one latent for K and V (no factor 2): 27 * 576 * 2 B = 31,104 B per token
    plan = plan_paged(load_model("deepseek-v2-lite"), [100, 17], Workload(max_len=1000), block_size=16)
    per_token = 27 * (512 + 64) * 2
    assert plan.kv_bytes_per_token == per_token
    assert plan.paged_bytes == (112 + 32) * per_token and plan.contiguous_bytes == 2 * 1000 * per_token


def test_sliding_window_caps_cached_and_reserved_tokens():
    m = load_model("mistral-7b")  # window 4096
    plan = plan_paged(m, [5000, 10], Workload(max_len=8192), block_size=16)
    per_token = 2 * 32 * 8 * 128 * 2
    assert plan.needed_bytes == (4096 + 10) * per_token
    assert plan.paged_bytes == (4096 + 16) * per_token
    assert plan.contiguous_bytes == 2 * 4096 * per_token


def test_mixed_layers_keep_separate_blocks():
    m = replace(load_model("mistral-7b"), sliding_window=32,
                layer_types=("sliding_attention", "full_attention") * 16)
    plan = plan_paged(m, [100], Workload(max_len=1000), block_size=16)
    per_layer = 2 * 8 * 128 * 2
    assert len(plan.groups) == 2 and plan.blocks == 2 + 7  # ceil(32/16) + ceil(100/16)
    assert plan.needed_bytes == 16 * per_layer * (32 + 100)
    assert plan.paged_bytes == 16 * per_layer * (32 + 112)
    assert plan.contiguous_bytes == 16 * per_layer * (32 + 1000)


def test_gemma2_sliding_and_full_groups(cli):
    data = cli.json("paged", GEMMA2, "--lengths", "5000,10", "--memory", "1GiB")
    per_layer = 2 * 4 * 256 * 2  # K and V, 4 KV heads of 256, fp16: 4 KiB per token per layer
    sliding, full = sorted(data["groups"], key=lambda g: g["window"] is None)
    assert (sliding["window"], sliding["layers"], full["layers"]) == (4096, 13, 13)
    assert sliding["needed_tokens"] == 4096 + 10 and full["needed_tokens"] == 5010
    assert sliding["blocks"] == 256 + 1 and full["blocks"] == 313 + 1  # ceil(4096/16) + 1, ceil(5000/16) + 1
    assert data["blocks"] == 257 + 314
    rows = _rows(data)
    assert rows["needed"]["bytes"] == 13 * per_layer * (4106 + 5010)
    assert rows["paged"]["bytes"] == 13 * per_layer * 16 * (257 + 314)
    assert rows["contiguous"]["bytes"] == 13 * per_layer * 2 * (4096 + 8192)  # max_len 8192, window 4096
    assert rows["paged"]["tokens"] == 16 * (257 + 314) / 2  # slots averaged over the layers
    assert rows["paged"]["fits"] == 2**30 * 2 // (13 * per_layer * 16 * 571)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 100_000), min_size=1, max_size=50), st.integers(1, 4096))
def test_paged_waste_under_one_block_per_sequence(lengths, block):
    work = Workload(max_len=100_000)
    plan = plan_paged(LLAMA2_7B, lengths, work, block_size=block)
    per_seq = [plan_paged(LLAMA2_7B, [n], work, block_size=block) for n in lengths[:5]]
    for p in (plan, *per_seq):
        assert 0 <= p.waste_bytes("paged") < p.num_seqs * block * PER_TOKEN_7B
        assert p.waste_bytes("paged") <= p.row("paged", "waste_bound_bytes")
        assert p.needed_bytes <= min(p.paged_bytes, p.contiguous_bytes)
        # a max_len that is not a whole number of blocks can leave paged above contiguous
        assert p.paged_bytes <= p.num_seqs * math.ceil(p.max_len / block) * block * PER_TOKEN_7B
        assert p.tokens_of("paged") % block == 0
    assert plan.blocks == sum(-(-n // block) for n in lengths)
    assert plan.needed_bytes == sum(lengths) * PER_TOKEN_7B


def _numpy_draw(dist, n, mean, seed, max_len):
    """The recipe of the docs, with numpy alone: draw, round to tokens, clip to [1, max_len]."""
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        values = rng.integers(1, 2 * mean, size=n)
    elif dist == "normal":
        values = rng.normal(mean, mean / 4, size=n)
    elif dist == "lognormal":  # coefficient of variation 1: sigma^2 = ln 2, mu = ln(mean) - sigma^2/2
        values = rng.lognormal(math.log(mean) - math.log(2) / 2, math.sqrt(math.log(2)), size=n)
    else:
        values = rng.exponential(mean, size=n)
    return np.clip(np.rint(values), 1, max_len).astype(np.int64)


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal", "exponential"])
def test_draw_is_numpys_default_rng_in_one_piece(dist):
    n = CHUNK + 12_345  # drawn in pieces: the stream must be that of one call
    lengths = draw_lengths(LengthDraw(dist, n, 1000, None, 11, 2048))
    assert lengths.dtype == np.int64 and np.array_equal(lengths, _numpy_draw(dist, n, 1000, 11, 2048))


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal", "exponential"])
def test_draw_reproducible_and_clipped(cli, dist):
    args = ("paged", "llama2-7b", "--dist", dist, "--mean", "1000", "--num-seqs", "64", "--max-len", "2048")
    first, again = cli.json(*args, "--seed", "7"), cli.json(*args, "--seed", "7")
    other = cli.json(*args, "--seed", "8")
    assert first["lengths"] == again["lengths"] != other["lengths"]
    assert first["lengths"] == _numpy_draw(dist, 64, 1000, 7, 2048).tolist()
    assert len(first["lengths"]) == 64 and all(1 <= n <= 2048 for n in first["lengths"])
    assert first["draw"] == {"dist": dist, "num_seqs": 64, "mean": 1000, "std": None, "seed": 7, "max_len": 2048}
    assert _rows(first)["needed"]["tokens"] == sum(first["lengths"])


def test_draw_defaults_256_sequences_seed_0_clipped_at_max_len(cli):
    data = cli.json("paged", "llama2-7b", "--dist", "lognormal", "--mean", "1000")
    assert data["draw"] == {"dist": "lognormal", "num_seqs": 256, "mean": 1000, "std": None, "seed": 0,
                            "max_len": 4096}
    assert data["lengths"] == _numpy_draw("lognormal", 256, 1000, 0, 4096).tolist()


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal", "exponential"])
def test_draw_has_the_asked_mean(dist):
    lengths = draw_lengths(LengthDraw(dist, 20_000, 1000, None, 0, 10**6))
    assert lengths.mean() == pytest.approx(1000, rel=0.03)


def test_many_drawn_lengths_give_statistics_not_a_list(cli):
    n = 20_000  # over the 10,000 the JSON lists
    data = cli.json("paged", "llama2-7b", "--dist", "exponential", "--mean", "500", "--num-seqs", str(n))
    ref = _numpy_draw("exponential", n, 500, 0, 4096)
    assert data["lengths"] is None and data["settings"]["num_seqs"] == n
    stats = data["length_stats"]
    assert stats == {"min": int(ref.min()), "mean": pytest.approx(ref.mean(), rel=1e-12),
                     "median": float(np.median(ref)), "max": int(ref.max()), "sum": int(ref.sum())}
    rows = _rows(data)
    assert rows["needed"]["tokens"] == ref.sum()
    assert rows["paged"]["tokens"] == 16 * int(np.sum(-(-ref // 16)))
    assert rows["contiguous"]["tokens"] == n * 4096


def test_given_lengths_are_always_listed():
    lengths = list(range(1, 10_002))
    data = paged_report(plan_paged(LLAMA2_7B, lengths, Workload(max_len=20_000))).data
    assert data["lengths"] == lengths and data["length_stats"]["sum"] == 10_001 * 10_002 // 2


def test_table_csv_markdown_explain(cli):
    args = ("paged", "llama3-8b", "--dist", "lognormal", "--num-seqs", "256", "--mean", "1000",
            "--max-len", "8192", "--memory", "40GiB")
    table = cli(*args, "--explain").stdout
    assert "contiguous" in table and "seqs in 40 GiB" in table
    assert "kv_cache_bytes_per_token = 2*L*H_kv*d*b_kv = 2*32*8*128*2 = 128 KiB" in table
    assert "bytes = blocks*B*P = " in table
    assert "bytes = N*T_max*P = 256*8192*131072 = 256 GiB" in table
    rows = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert [r["scheme"] for r in rows] == ["needed", "paged", "contiguous"]
    assert int(rows[2]["bytes"]) == 256 * 8192 * 131072  # raw, not "256 GiB"
    markdown = cli(*args, "--format", "markdown", "--explain").stdout
    assert "| contiguous |" in markdown and "fits = floor(M*N/bytes) = " in markdown


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.Pow,
            ast.Call, ast.Name, ast.Load, ast.Constant)
_FUNCTIONS = {"min": min, "max": max, "floor": math.floor, "ceil": math.ceil}


def _evaluate(text, bindings):
    """An explanation's expression text evaluated with its bindings (arithmetic and min/max/floor/ceil only)."""
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _ALLOWED), (text, type(node).__name__)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS, text
    return eval(compile(tree, "<explanation>", "eval"), {"__builtins__": {}}, {**_FUNCTIONS, **bindings})  # noqa: S307


def _at(data, key):
    """The value at a term's key: 'rows[1].bytes' -> data['rows'][1]['bytes']."""
    for part in key.split("."):
        name, index = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part).groups()
        data = data[name]
        if index is not None:
            data = data[int(index)]
    return data


@pytest.mark.parametrize("model", ["llama2-7b", GEMMA2, "deepseek-v2-lite"])
@pytest.mark.parametrize("memory", [[], ["--memory", "40GiB"]])
def test_explanation_terms_evaluate_to_the_json_values(cli, model, memory):
    args = ("paged", model, "--dist", "lognormal", "--mean", "3000", "--num-seqs", "500", "--max-len", "8192",
            "--block-size", "32", *memory)
    data = cli.json(*args, "--explain")
    entries = data["explanation"]
    for e in entries:
        computed = _evaluate(e["expr"], e["bindings"])
        assert computed == pytest.approx(e["value"], rel=1e-12, abs=1e-12), e
        assert _at(data, e["key"]) == e["value"], e
    keys = {e["key"] for e in entries}
    shown = {"kv_cache_bytes_per_token", "block_bytes", "blocks"}
    shown |= {f"rows[{j}].{k}" for j in range(3)
              for k in ("tokens", "bytes", "waste_bytes", "waste_share", *(["fits"] if memory else []))}
    shown |= {f"groups[{i}].{k}" for i, g in enumerate(data["groups"]) for k in g if k not in ("label", "window", "layers")}
    assert shown <= keys and ("fit_ratio" in keys) == bool(memory)
    assert len(data["groups"]) == (2 if model == GEMMA2 else 1)
    table = cli(*args, "--explain").stdout
    for e in entries:  # the table's explanation shows the same terms
        assert f"{e['key'].rsplit('.', 1)[-1]} = {e['expr']}" in table, e


@pytest.mark.parametrize("args, needle", [
    (["--lengths", "100", "--block-size", "0"], "--block-size"),
    (["--lengths", "100", "--block-size", "-16"], "--block-size"),
    (["--lengths", ""], "--lengths"),
    (["--lengths", "100,0"], "--lengths"),
    (["--lengths", "-5"], "--lengths"),
    (["--lengths", "5000"], "exceeds --max-len 4096"),
    (["--lengths", "100,3000", "--max-len", "2k"], "length 3000 exceeds --max-len 2048"),
    (["--dist", "zipf", "--mean", "100"], "--dist"),
    (["--dist", "normal", "--mean", "100", "--num-seqs", "0"], "--num-seqs"),
    (["--dist", "normal", "--mean", "100", "--num-seqs", "-3"], "--num-seqs"),
    (["--dist", "normal"], "--mean"),
    (["--dist", "normal", "--mean", "0"], "--mean"),
    (["--dist", "uniform", "--mean", "100", "--std", "5"], "--std"),
    (["--dist", "normal", "--mean", "100", "--seed", "-1"], "--seed"),
    (["--lengths", "100", "--memory", "20"], "--memory"),
    (["--lengths", "100", "--memory", "20 GB/s"], "--memory"),
    (["--lengths", "100", "--memory", "0 GiB"], "--memory"),
    (["--lengths", "100", "--seed", "x"], "--seed"),
    (["--lengths", "100", "--mean", "5"], "--mean: applies to drawn lengths"),
    (["--lengths", "100", "--kv-dtype", "fp5"], "--kv-dtype"),
    (["--lengths", "100", "--kv-group-size", "0"], "--kv-group-size"),
    (["--lengths", "100", "--max-len", "0"], "--max-len"),
    (["--lengths", "100", "--dist", "normal", "--mean", "100"], "--lengths or --dist"),
    ([], "--lengths or --dist"),
])
def test_errors_one_line_exit_2(cli, tmp_path, args, needle):
    target = tmp_path / "out.json"
    result = cli("paged", "llama2-7b", *args, "-o", str(target), code=2)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err
    assert "Traceback" not in result.output and not target.exists()


def test_output_file_is_written_whole(cli, tmp_path):
    target = tmp_path / "paged.json"
    cli("paged", "llama2-7b", "--lengths", "1,16,17", "-f", "json", "-o", str(target))
    assert json.loads(target.read_text())["blocks"] == 4 and [p.name for p in tmp_path.iterdir()] == ["paged.json"]


def test_library_errors_are_spec_errors():
    with pytest.raises(SpecError, match="--block-size"):
        plan_paged(LLAMA2_7B, [10], block_size=0)
    with pytest.raises(SpecError, match="--lengths"):
        plan_paged(LLAMA2_7B, [10, 2.5])
    with pytest.raises(SpecError, match="--lengths"):
        plan_paged(LLAMA2_7B, [])
    with pytest.raises(SpecError, match="--dist"):
        draw_lengths(LengthDraw("pareto", 10, 100, None, 0, 4096))
    with pytest.raises(SpecError, match="--lengths or --dist"):
        plan_paged(LLAMA2_7B, [10], draw=LengthDraw("normal", 10, 100))


def test_module_is_pure():
    out = subprocess.run([sys.executable, "-c", "import rooflint.analysis.paged, sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"numpy", "torch", "rich", "typer", "yaml"}


def test_command_imports_no_heavy_library():
    code = ("from rooflint.cli import app\nfrom typer.testing import CliRunner\nimport sys\n"
            "CliRunner().invoke(app, ['paged', 'llama2-7b', '--dist', 'normal', '--mean', '100', '-f', 'json'])\n"
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"torch", "cupy", "matplotlib"}
