"""Seed 000 (../shared/seeds/000_*.txt; reference/seed-tables.md): ridge point, intensities, KV."""

import pytest

from rooflint import load_hardware

# (N, d) -> intensity N*d/(N+2d) and bound on A100-40GB, from seed-tables.md (seed prints rounded)
QK_ROWS = [
    (256, 64, 42.7, 43, "memory"), (2048, 64, 60.2, 60, "memory"), (4096, 64, 62.1, 62, "memory"),
    (256, 128, 64.0, 64, "memory"), (2048, 128, 113.8, 114, "memory"), (4096, 128, 120.5, 120, "memory"),
    (256, 256, 85.3, 85, "memory"), (2048, 256, 204.8, 205, "compute"), (4096, 256, 227.6, 228, "compute"),
]


def test_a100_ridge_point():
    # 312 TFLOP/s / 1555 GB/s = 200.64 ("201" in the seed)
    assert load_hardware("a100").ridge_point("fp16") == pytest.approx(200.6, abs=0.05)


@pytest.mark.parametrize("n,d,intensity,printed,bound", QK_ROWS)
def test_qk_table(cli, n, d, intensity, printed, bound):
    # [N,d]x[d,N]: Q and K read, S written -> 2N^2 d / (2(2Nd + N^2)) = N d / (N + 2d)
    out = cli.json("gemm", str(n), str(n), str(d), "--gpu", "a100")
    assert out["intensity"] == pytest.approx(n * d / (n + 2 * d))
    assert round(out["intensity"], 1) == intensity
    assert round(out["intensity"]) == printed or abs(out["intensity"] - printed) < 0.6
    assert out["bound"] == bound


def test_dot_product(cli):
    # 2n FLOPs over 4n bytes read = 0.5 FLOP/B, memory-bound
    out = cli.json("gemm", "1", "1", "1000000", "--gpu", "a100")
    assert out["flops"] == 2_000_000
    assert out["bytes_read"] == 4_000_000
    assert out["intensity_inputs_only"] == 0.5
    assert out["bound"] == "memory"


@pytest.mark.parametrize("m", [64, 401, 402, 601, 602, 4096])
def test_square_matmul(cli, m):
    # inputs only: 2m^3 / 4m^2 = 0.5 m; with C: 2m^3/6m^2 = m/3. The seed rounds the ridge to 201
    # (so "m > 402" and "m > 603"); the exact ridge 200.64 moves the switch to m >= 402 and m >= 602.
    out = cli.json("gemm", str(m), str(m), str(m), "--gpu", "a100")
    assert out["intensity_inputs_only"] == pytest.approx(0.5 * m)
    assert out["intensity"] == pytest.approx(m / 3)
    assert out["bound_inputs_only"] == ("compute" if m >= 402 else "memory")
    assert out["bound"] == ("compute" if m >= 602 else "memory")


def test_seed_kv_with_8_kv_heads(cli):
    # 2 B x 32 layers x 128 head dim x 8 KV heads x 2 (K and V) = 131072 B = 128 KiB per token;
    # x 4095 tokens = 536,870,912 - 131,072 = 536,739,840 B = 511.9 MiB ("about 0.5 GB")
    out = cli.json("kv", "llama2-7b", "--set", "num_key_value_heads=8", "--context", "4095")
    assert out["kv_cache_bytes_per_token"] == 131072
    assert out["rows"][0]["kv_cache_bytes"] == 131072 * 4095
    assert out["rows"][0]["kv_cache_bytes"] / 2**20 == pytest.approx(511.875)


def test_real_llama2_7b_kv(cli):
    # The real Llama-2-7B has 32 KV heads: 2*32*128*32*2 = 524288 B = 512 KiB; x4096 = 2 GiB
    out = cli.json("analyze", "llama2-7b", "--gpu", "a100")
    assert out["memory"]["kv_cache_bytes_per_token"] == 512 * 1024
    assert out["memory"]["kv_cache_bytes"] == 2 * 2**30
    seed = cli.json("analyze", "llama2-7b", "--gpu", "a100", "--set", "num_key_value_heads=8", "--context", "4095")
    assert seed["memory"]["kv_cache_bytes_per_token"] == 128 * 1024
    assert seed["memory"]["kv_cache_bytes"] == 131072 * 4095


def test_analyze_table_shows_kv(cli):
    out = cli("analyze", "llama2-7b", "--gpu", "a100").stdout
    assert "512 KiB" in out and "2 GiB" in out
