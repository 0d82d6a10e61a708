"""Paged KV cache (vLLM PagedAttention) vs contiguous preallocation: figures pinned by formulas."""

import csv
import io
import math
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from rooflint.analysis.paged import LengthDraw, draw_lengths, plan_paged
from rooflint.catalog import load_model
from rooflint.errors import SpecError

LLAMA2_7B = load_model("llama2-7b")
PER_TOKEN_7B = 2 * 32 * 32 * 128 * 2  # 2 (K,V) * L * H_kv * d * 2 B = 524288 B = 512 KiB


def _rows(data):
    return {r["scheme"]: r for r in data["rows"]}


def test_llama2_7b_blocks_by_hand(cli):
    data = cli.json("paged", "llama2-7b", "--lengths", "1,16,17")
    assert data["schema"] == "rooflint.paged/1"
    assert data["kv_cache_bytes_per_token"] == PER_TOKEN_7B == 524288
    assert data["block_size"] == 16 and data["max_len"] == 4096  # model's max_position_embeddings
    assert data["blocks"] == 1 + 1 + 2
    rows = _rows(data)
    assert rows["needed"]["tokens"] == 1 + 16 + 17
    assert rows["paged"]["tokens"] == 16 + 16 + 32 == 64
    assert rows["paged"]["bytes"] == 64 * PER_TOKEN_7B
    assert rows["paged"]["waste_bytes"] == (15 + 0 + 15) * PER_TOKEN_7B
    assert rows["paged"]["waste_share"] == pytest.approx(30 / 64)
    assert rows["contiguous"]["bytes"] == 3 * 4096 * PER_TOKEN_7B
    assert rows["contiguous"]["waste_bytes"] == ((4096 - 1) + (4096 - 16) + (4096 - 17)) * PER_TOKEN_7B
    assert rows["needed"]["waste_bytes"] == 0 and rows["needed"]["fits"] is None


def test_contiguous_waste_is_sum_of_max_len_minus_len():
    lengths = [100, 2000, 37, 4096]
    plan = plan_paged(LLAMA2_7B, 2, lengths, block_size=32, max_len=4096)
    assert plan.waste_bytes("contiguous") == sum(4096 - n for n in lengths) * PER_TOKEN_7B
    assert plan.paged_bytes == sum(math.ceil(n / 32) * 32 for n in lengths) * PER_TOKEN_7B


def test_memory_fit(cli):
    # contiguous: 4096 tokens * 512 KiB = 2 GiB per sequence -> 10 in 20 GiB;
    # paged: 64 slots * 512 KiB = 32 MiB for the three -> floor(20 GiB * 3 / 32 MiB) = 1920
    rows = _rows(cli.json("paged", "llama2-7b", "--lengths", "1,16,17", "--memory", "20 GiB"))
    assert rows["contiguous"]["fits"] == 10
    assert rows["paged"]["fits"] == 20 * 1024 * 3 // 32 == 1920
    assert rows["needed"]["fits"] == 20 * 2**30 * 3 // (34 * PER_TOKEN_7B)


def test_kv_dtype_and_block_size_options(cli):
    data = cli.json("paged", "llama3-8b", "--lengths", "100", "--kv-dtype", "fp8", "--block-size", "32")
    per_token = 2 * 32 * 8 * 128 * 1
    assert data["kv_cache_bytes_per_token"] == per_token and data["block_bytes"] == 32 * per_token
    assert _rows(data)["paged"]["bytes"] == 128 * per_token  # ceil(100/32) = 4 blocks
    assert data["max_len"] == 8192


def test_sliding_window_caps_cached_and_reserved_tokens():
    m = load_model("mistral-7b")  # window 4096
    plan = plan_paged(m, 2, [5000, 10], block_size=16, max_len=8192)
    per_token = 2 * 32 * 8 * 128 * 2
    assert plan.needed_bytes == (4096 + 10) * per_token
    assert plan.paged_bytes == (4096 + 16) * per_token
    assert plan.contiguous_bytes == 2 * 4096 * per_token


def test_mixed_layers_keep_separate_blocks():
    m = replace(load_model("mistral-7b"), sliding_window=32,
                layer_types=("sliding_attention", "full_attention") * 16)
    plan = plan_paged(m, 2, [100], block_size=16, max_len=1000)
    per_layer = 2 * 8 * 128 * 2
    assert len(plan.groups) == 2 and plan.blocks == 2 + 7  # ceil(32/16) + ceil(100/16)
    assert plan.needed_bytes == 16 * per_layer * (32 + 100)
    assert plan.paged_bytes == 16 * per_layer * (32 + 112)
    assert plan.contiguous_bytes == 16 * per_layer * (32 + 1000)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 100_000), min_size=1, max_size=50), st.integers(1, 4096))
def test_paged_waste_under_one_block_per_sequence(lengths, block):
    plan = plan_paged(LLAMA2_7B, 2, lengths, block_size=block, max_len=100_000)
    per_seq = [plan_paged(LLAMA2_7B, 2, [n], block_size=block, max_len=100_000) for n in lengths[:5]]
    for p in (plan, *per_seq):
        assert 0 <= p.waste_bytes("paged") < p.num_seqs * block * PER_TOKEN_7B
        assert p.needed_bytes <= min(p.paged_bytes, p.contiguous_bytes)
        # a max_len that is not a whole number of blocks can leave paged above contiguous
        assert p.paged_bytes <= p.num_seqs * math.ceil(p.max_len / block) * block * PER_TOKEN_7B
        assert p.tokens_of("paged") % block == 0
    assert plan.blocks == sum(-(-n // block) for n in lengths)


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal", "exponential"])
def test_draw_reproducible_and_clipped(cli, dist):
    args = ("paged", "llama2-7b", "--dist", dist, "--mean", "1000", "--num-seqs", "64", "--max-len", "2048")
    first, again = cli.json(*args, "--seed", "7"), cli.json(*args, "--seed", "7")
    other = cli.json(*args, "--seed", "8")
    assert first["lengths"] == again["lengths"] != other["lengths"]
    assert len(first["lengths"]) == 64 and all(1 <= n <= 2048 for n in first["lengths"])
    assert first["draw"] == {"dist": dist, "num_seqs": 64, "mean": 1000, "std": None, "seed": 7, "max_len": 2048}
    assert _rows(first)["needed"]["tokens"] == sum(first["lengths"])


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal", "exponential"])
def test_draw_has_the_asked_mean(dist):
    lengths = draw_lengths(LengthDraw(dist, 20_000, 1000, None, 0, 10**6))
    assert sum(lengths) / len(lengths) == pytest.approx(1000, rel=0.03)


def test_table_csv_markdown_explain(cli):
    args = ("paged", "llama3-8b", "--dist", "lognormal", "--num-seqs", "256", "--mean", "1000",
            "--max-len", "8192", "--memory", "40GiB")
    table = cli(*args, "--explain").stdout
    assert "contiguous" in table and "seqs in 40 GiB" in table
    assert "kv_cache_bytes_per_token = 2*L*H_kv*d*b_kv = 2 * 32 * 8 * 128 * 2 = 128 KiB" in table
    assert "paged_bytes = blocks*B*P" in table and "contiguous_bytes = N*T_max*P = 256 * 8192 * 131072" in table
    rows = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert [r["scheme"] for r in rows] == ["needed", "paged", "contiguous"]
    assert int(rows[2]["bytes"]) == 256 * 8192 * 131072  # raw, not "256 GiB"
    assert "| contiguous |" in cli(*args, "--format", "markdown").stdout


@pytest.mark.parametrize("args, needle", [
    (["--lengths", "100", "--block-size", "0"], "--block-size"),
    (["--lengths", "100", "--block-size", "-16"], "--block-size"),
    (["--lengths", "100,0"], "--lengths"),
    (["--lengths", "-5"], "--lengths"),
    (["--lengths", "5000"], "exceeds --max-len 4096"),
    (["--dist", "zipf", "--mean", "100"], "--dist"),
    (["--dist", "normal", "--mean", "100", "--num-seqs", "0"], "--num-seqs"),
    (["--dist", "normal", "--mean", "100", "--num-seqs", "-3"], "--num-seqs"),
    (["--dist", "normal"], "--mean"),
    (["--dist", "uniform", "--mean", "100", "--std", "5"], "--std"),
    (["--lengths", "100", "--memory", "20"], "--memory"),
    (["--lengths", "100", "--memory", "20 GB/s"], "--memory"),
    (["--lengths", "100", "--memory", "0 GiB"], "--memory"),
    (["--lengths", "100", "--seed", "x"], "--seed"),
    ([], "--lengths or --dist"),
])
def test_errors_one_line_exit_2(cli, args, needle):
    result = cli("paged", "llama2-7b", *args, code=2)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err
    assert "Traceback" not in result.output


def test_library_errors_are_spec_errors():
    with pytest.raises(SpecError, match="--block-size"):
        plan_paged(LLAMA2_7B, 2, [10], block_size=0)
    with pytest.raises(SpecError, match="--dist"):
        draw_lengths(LengthDraw("pareto", 10, 100, None, 0, 4096))


def test_module_is_pure():
    out = subprocess.run([sys.executable, "-c", "import rooflint.analysis.paged, sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"numpy", "torch", "rich", "typer", "yaml"}
