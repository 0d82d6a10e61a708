"""Seed 004 (../shared/seeds/004_*.txt; reference/seed-tables.md): eager attention memory."""

import os

import pytest
from conftest import DATA

from rooflint import load_hardware

KiB, MiB, GiB = 2**10, 2**20, 2**30

# N -> Q/K/V/O = 4*N*d*2 B, S+P = 2*N^2*2 B, share = SP/(SP+QKVO); d = 64, fp16
SINGLE_HEAD = [
    (512, 256 * KiB, 1 * MiB, 80.0), (1024, 512 * KiB, 4 * MiB, 88.9), (2048, 1 * MiB, 16 * MiB, 94.1),
    (4096, 2 * MiB, 64 * MiB, 97.0), (8192, 4 * MiB, 256 * MiB, 98.5), (16384, 8 * MiB, 1 * GiB, 99.2),
]
# (b, h, N) -> S+P = 4*b*h*N^2 bytes
MULTI_HEAD = [(1, 12, 2048, 192 * MiB), (1, 12, 4096, 768 * MiB), (1, 12, 8192, 3 * GiB),
              (8, 12, 2048, 1.5 * GiB), (8, 12, 4096, 6 * GiB)]


@pytest.fixture(scope="module")
def single_head_rows():
    import json

    from typer.testing import CliRunner

    from rooflint.cli import app

    out = CliRunner().invoke(app, ["attention", "--format", "json"])
    return {r["seq_len"]: r for r in json.loads(out.stdout)["rows"]}


@pytest.mark.parametrize("n,qkvo,sp,share", SINGLE_HEAD)
def test_single_head_table(single_head_rows, n, qkvo, sp, share):
    row = single_head_rows[n]
    assert row["qkvo_bytes"] == qkvo
    assert row["sp_bytes"] == sp
    assert round(100 * row["sp_share"], 1) == share


@pytest.mark.parametrize("b,h,n,sp", MULTI_HEAD)
def test_multi_head(cli, b, h, n, sp):
    out = cli.json("attention", "--seq", str(n), "--heads", str(h), "--batch", str(b))
    assert out["rows"][0]["sp_bytes"] == sp


@pytest.mark.parametrize("n", [512, 4096, 16384])
@pytest.mark.parametrize("d", [64, 128])
def test_three_step_intensities(cli, n, d):
    row = cli.json("attention", "--seq", str(n), "--head-dim", str(d), "--gpu", "a100")["rows"][0]
    assert row["qk_matmul_intensity"] == pytest.approx(2 * n * n * d / (4 * n * d + 2 * n * n))
    assert row["softmax_intensity"] == pytest.approx(1.25)  # 5N^2 / 4N^2
    assert row["pv_matmul_intensity"] == pytest.approx(2 * n * n * d / (2 * n * n + 4 * n * d))
    assert row["qk_matmul_intensity"] < d and row["qk_matmul_bound"] == "memory"


@pytest.mark.parametrize("file,ridge,printed", [("seed004-a100.yaml", 156.0, 156), ("seed004-h100.yaml", 295.5, 296)])
def test_seed_ridge_points(file, ridge, printed):
    hw = load_hardware(os.path.join(DATA, "hw", file))
    assert hw.ridge_point("fp16") == pytest.approx(ridge, abs=0.05)
    assert round(hw.ridge_point("fp16") + 0.01) == printed


def test_datasheet_ridge_points():
    # hardware-specs.md 2.4: A100-80GB 312/2039 = 153; H100 SXM 989.4/3350 = 295
    assert load_hardware("a100-80gb").ridge_point("fp16") == pytest.approx(153.0, abs=0.1)
    assert load_hardware("h100").ridge_point("fp16") == pytest.approx(295.3, abs=0.1)
