"""The Blackwell / Hopper-China / CDNA 3-4 profiles hold their datasheet figures.

Every expected value below is written out from the vendor's figures (the source is in the comment),
not read back from the YAML: a typo in a profile, a sparse rate left undivided or a GB/GiB slip
fails here. Dense = sparse / 2 wherever the datasheet prints 2:4-sparse rates.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rooflint import SpecError, load_hardware

ROOT = Path(__file__).resolve().parents[1]
T = 1e12  # TFLOP/s or TB/s
G = 1e9
GiB = 2**30
MiB = 2**20
KiB = 2**10

# name -> expected figures. Peaks in TFLOP/s (TOP/s for int8), bandwidth/interconnect in GB/s.
EXPECTED = {
    "b200": dict(  # HGX B200 (8-GPU) table / 8, sparse halved; Klockwood per-GPU dense table (1000 W)
        capacity=180 * GiB,            # "180GB" (192 GiB physical; nvidia-smi ~179 GiB)
        bandwidth=8000 * G,            # datasheet 8 TB/s
        peaks=dict(fp32=75,            # 600 TFLOPS / 8
                   tf32=1125,          # 18 PF sparse / 8 / 2
                   fp16=2250, bf16=2250,  # 36 PF sparse / 8 / 2
                   fp8=4500,           # 72 PF sparse / 8 / 2
                   int8=4500,          # 72 POPS sparse / 8 / 2
                   fp4=9000),          # 144 PF sparse / 8 / 2
        sm_count=148, sram=228 * KiB, l2=126 * MiB, interconnect=1800 * G, tdp_w=1000),
    "gb200": dict(  # GB200 NVL72 per GPU (1200 W): Klockwood's GB200 column; NVL72 totals / 72
        capacity=186 * GiB,            # 13.4 TB / 72; nvidia-smi 189471 MiB
        bandwidth=8000 * G,            # 576 TB/s / 72
        peaks=dict(fp32=80,            # 5,760 TFLOPS / 72
                   tf32=1250, fp16=2500, bf16=2500,  # 360 PF sparse / 72 / 2 = 2500
                   fp8=5000,           # 720 PF sparse / 72 / 2
                   int8=5000,
                   fp4=10000),         # 1440 PF sparse / 72 / 2
        sm_count=148, sram=228 * KiB, l2=126 * MiB, interconnect=1800 * G, tdp_w=1200),
    "b300": dict(  # HGX B300 (Blackwell Ultra, 1100 W): HGX table / 8; Verda per-GPU dense table
        capacity=288 * G,              # "288 GB" decimal = 268.2 GiB; driver exposes 275040 MiB = 268.6 GiB
        bandwidth=8000 * G,            # NVIDIA Blackwell Ultra blog: 8 TB/s
        peaks=dict(fp32=75,            # 600 TFLOPS / 8
                   tf32=1125, fp16=2250, bf16=2250,  # 18 and 36 PF sparse / 8 / 2
                   fp8=4500,           # 72 PF sparse / 8 / 2 (unchanged from B200)
                   int8=150,           # Verda: 0.15 POPS dense (INT8 cut on Blackwell Ultra)
                   fp4=14000),         # Verda: 14 PF dense (Klockwood 13.125, GB300 15)
        sm_count=148, sram=228 * KiB, l2=126 * MiB, interconnect=1800 * G, tdp_w=1100),
    "h20": dict(  # NVIDIA HGX H20 brief (dense figures) via secondary copies
        capacity=96 * GiB, bandwidth=4000 * G,
        peaks=dict(fp32=44, tf32=74, fp16=148, bf16=148, fp8=296, int8=296),
        sm_count=78, sram=228 * KiB, l2=60 * MiB, interconnect=900 * G, tdp_w=400),
    "rtx-5090": dict(  # NVIDIA spec page (3352 AI TOPS = FP4 sparse), RTX Blackwell whitepaper figures
        capacity=32 * GiB, bandwidth=1792 * G,   # 512 bit x 28 Gb/s / 8
        peaks=dict(fp32=104.8,         # 21760 x 2 x 2.407 GHz
                   tf32=104.8,         # 209.5 sparse
                   fp16=209.5, bf16=209.5,  # FP32 accumulate, half of the 419 FP16-accumulate rate
                   fp8=838,            # 1676 sparse; full rate with FP32 accumulate (mmapeak 731.5 measured)
                   int8=838,           # 1676 sparse
                   fp4=1676),          # 3352 AI TOPS (FP4 sparse) / 2
        sm_count=170, sram=100 * KiB, l2=96 * MiB, interconnect=128 * G, tdp_w=575),
    "rtx-pro-6000": dict(  # RTX PRO 6000 Blackwell datasheet: 4000 AI TOPS (FP4 sparse), 125 TFLOPS FP32
        capacity=96 * GiB, bandwidth=1792 * G,
        peaks=dict(fp32=125,
                   tf32=250,           # FP16 / 2, as on RTX 6000 Ada
                   fp16=500, bf16=500,  # FP4 dense / 4 (full-rate FP32 accumulate on the pro part)
                   fp8=1000, int8=1000,  # FP4 dense / 2
                   fp4=2000),          # 4000 / 2
        sm_count=188, sram=100 * KiB, l2=128 * MiB, interconnect=128 * G, tdp_w=600),
    "mi325x": dict(  # AMD MI325X data sheet: MI300X compute at 2100 MHz, 256 GB HBM3E, 6 TB/s
        capacity=256 * GiB, bandwidth=6000 * G,
        peaks=dict(fp32=163.4, tf32=653.7, fp16=1307.4, bf16=1307.4,
                   fp8=2614.9,         # 5229.8 with sparsity / 2
                   int8=2614.9),
        sm_count=304, sram=64 * KiB, l2=32 * MiB, interconnect=896 * G, tdp_w=1000),
    "mi355x": dict(  # AMD MI355X: 256 CUs at 2.4 GHz; FP8 5033 dense (10.1 PF sparse), FP4 20.1 PF sparse
        capacity=288 * GiB, bandwidth=8000 * G,
        peaks=dict(fp32=157.3,
                   fp16=2516.6, bf16=2516.6,  # 5.0 PF sparse / 2
                   fp8=5033.2, int8=5033.2,   # 10.1 PF sparse / 2
                   fp4=10066.3),              # 20.1 PF sparse / 2
        sm_count=256, sram=160 * KiB, l2=32 * MiB, interconnect=1075 * G, tdp_w=1400),
}

# Peak FLOP per clock per SM/CU for the clock-derived cross-checks (architecture documents):
# Hopper/Blackwell SM: 4 tensor cores; dense FP16 per SM per clock 4096 (Hopper), 8192 (B200);
# CDNA 3 CU: 2048 dense FP16 FLOP/clk; CDNA 4 CU: 4096 FP16, 8192 FP8 (ISSCC 2026), 16384 FP4;
# GB202 (RTX 5090 / PRO 6000) SM: 1024 dense FP16-accumulate FP16, 4096 FP4 FLOP/clk.
CLOCK_CHECKS = [
    # (profile, dtype, SMs, FLOP/clk/SM, clock GHz, tolerance)
    ("mi325x", "fp16", 304, 2048, 2.1, 0.001),      # 1307.4
    ("mi355x", "fp8", 256, 8192, 2.4, 0.001),       # 5033.2
    ("mi355x", "fp16", 256, 4096, 2.4, 0.001),      # 2516.6
    ("mi355x", "fp4", 256, 16384, 2.4, 0.001),      # 10066.3
    ("mi355x", "fp32", 256, 256, 2.4, 0.001),       # 157.3 vector
    ("rtx-5090", "fp32", 170, 256, 2.407, 0.001),   # 104.75 (128 FP32 lanes x 2)
    ("rtx-5090", "fp4", 170, 4096, 2.407, 0.001),   # 1676
    ("rtx-5090", "fp16", 170, 512, 2.407, 0.001),   # 209.5 (half of 1024 with FP32 accumulate)
    ("rtx-pro-6000", "fp4", 188, 4096, 2.6, 0.01),  # 2003 at ~2.6 GHz (clock from 125 TFLOPS / 48128)
    ("rtx-pro-6000", "fp32", 188, 256, 2.6, 0.01),  # 125.1
    ("b200", "fp16", 148, 8192, 1.856, 0.001),      # 2250 implies a 1.856 GHz tensor clock
    ("gb200", "fp16", 148, 8192, 2.062, 0.001),     # 2500 implies 2.06 GHz at 1200 W
    ("b300", "fp4", 148, 49152, 1.92, 0.005),       # 13.97 PF at the 1.92 GHz clock seen on B300
]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_datasheet_figures(name):
    hw, want = load_hardware(name), EXPECTED[name]
    assert hw.name == name
    assert hw.capacity_bytes == pytest.approx(want["capacity"], rel=1e-9)
    assert hw.bandwidth_bytes_per_s == pytest.approx(want["bandwidth"], rel=1e-9)
    assert set(hw.peak_flop_per_s) == set(want["peaks"]), "no peak the datasheet lacks, none missing"
    for key, tflops in want["peaks"].items():
        assert hw.peak(key) == pytest.approx(tflops * T, rel=1e-9), key
    assert hw.sm_count == want["sm_count"]
    assert hw.sram_per_sm_bytes == want["sram"]
    assert hw.l2_bytes == want["l2"]
    assert hw.interconnect_bytes_per_s == pytest.approx(want["interconnect"], rel=1e-9)
    assert len(hw.source.split()) >= 5 and hw.device_names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tdp(name):
    from rooflint.inputs import read_mapping
    from rooflint.units import parse_quantity
    raw = read_mapping(ROOT / "hardware" / f"{name}.yaml")
    assert parse_quantity(raw["tdp"], "watts") == EXPECTED[name]["tdp_w"]


@pytest.mark.parametrize("name,key,sms,per_clk,ghz,tol", CLOCK_CHECKS)
def test_clock_derived_peaks(name, key, sms, per_clk, ghz, tol):
    assert load_hardware(name).peak(key) == pytest.approx(sms * per_clk * ghz * 1e9, rel=tol)


@pytest.mark.parametrize("name", ["b200", "gb200", "rtx-5090", "rtx-pro-6000", "mi355x"])
def test_fp4_is_twice_fp8(name):
    # B200/GB200: HGX/NVL72 tables print FP4 = 2 x FP8 (144 vs 72 PF per 8 GPUs); GB202: FP4 4096 vs
    # FP8 2048 FLOP/clk/SM; CDNA 4: MXFP4 16384 vs FP8 8192 FLOP/clk/CU (20.1 vs 10.1 PF sparse).
    hw = load_hardware(name)
    assert hw.peak("fp4") == pytest.approx(2 * hw.peak("fp8"), rel=1e-3)


def test_blackwell_ultra_fp4_is_not_twice_fp8():
    # Blackwell Ultra lifts dense NVFP4 1.5x over B200 (NVIDIA blog: 15 vs 10 PF at GB power) while
    # FP8 stays at 4.5 PF: 14 / 4.5 = 3.1x, and 1.5x-2x B200's 9 PF.
    b300, b200 = load_hardware("b300"), load_hardware("b200")
    assert b300.peak("fp4") / b300.peak("fp8") == pytest.approx(14 / 4.5, rel=1e-6)
    assert 1.4 < b300.peak("fp4") / b200.peak("fp4") < 1.7
    assert b300.peak("fp8") == b200.peak("fp8")
    assert b300.peak("int8") < b200.peak("int8") / 10  # INT8 cut to ~0.15 POPS


@pytest.mark.parametrize("name", ["h20", "mi325x"])
def test_no_fp4_where_the_chip_has_none(name):
    hw = load_hardware(name)
    with pytest.raises(SpecError, match="no fp4 peak"):
        hw.peak("fp4")
    assert "int4" not in hw.peak_flop_per_s


def test_no_int4_on_these_parts():
    # None of these datasheets gives an int4 tensor rate (Hopper and Blackwell dropped IMMA int4).
    for name in EXPECTED:
        assert "int4" not in load_hardware(name).peak_flop_per_s, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ridge_ordering_within_a_chip(name):
    hw = load_hardware(name)
    r = {k: hw.ridge_point(k) for k in hw.peak_flop_per_s}
    assert r["fp32"] < r["bf16"] < r["fp8"]
    assert r["fp16"] == r["bf16"]
    if "tf32" in r:
        assert r["fp32"] <= r["tf32"] < r["bf16"]
    if "fp4" in r:
        assert r["fp4"] >= 2 * r["fp8"] * 0.999


def test_ridge_ordering_across_chips():
    ridge = {n: load_hardware(n).ridge_point("bf16") for n in EXPECTED}
    # H20: 148 TFLOPS over 4 TB/s = 37 FLOP/B, the most memory-rich part here; H100 SXM is 295.
    assert ridge["h20"] == pytest.approx(37.0, rel=1e-9)
    assert ridge["h20"] < min(v for k, v in ridge.items() if k != "h20")
    assert ridge["h20"] < load_hardware("h100").ridge_point("bf16") / 5
    assert ridge["b200"] == pytest.approx(281.25, rel=1e-9)  # 2250 / 8
    assert ridge["gb200"] > ridge["b200"] == ridge["b300"]   # same bandwidth, GB200 clocks higher
    assert ridge["mi325x"] < load_hardware("mi300x").ridge_point("bf16")  # same FLOPs, more bandwidth
    assert ridge["rtx-5090"] < ridge["rtx-pro-6000"]  # half-rate FP32 accumulate on GeForce
    assert load_hardware("b300").ridge_point("fp4") == pytest.approx(1750.0, rel=1e-9)  # 14000 / 8


@pytest.mark.parametrize("alias,name", [("b200-sxm", "b200"), ("hgx-b300", "b300"), ("gb200-nvl72", "gb200"),
                                        ("5090", "rtx-5090"), ("rtx-pro-6000-blackwell", "rtx-pro-6000"),
                                        ("instinct-mi355x", "mi355x"), ("instinct-mi325x", "mi325x"),
                                        ("hgx-h20", "h20")])
def test_aliases(alias, name):
    assert load_hardware(alias).name == name


@pytest.mark.parametrize("name,device", [("b200", "NVIDIA B200"), ("gb200", "NVIDIA GB200"),
                                         ("b300", "NVIDIA B300 SXM6 AC"),
                                         ("rtx-5090", "NVIDIA GeForce RTX 5090"),
                                         ("rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell Server Edition"),
                                         ("mi355x", "AMD Instinct MI355X")])
def test_device_names(name, device):
    assert device in load_hardware(name).device_names


@pytest.mark.parametrize("name,fp4", [("b200", 9000e12), ("mi355x", 10066.3e12)])
def test_cli_json_shows_fp4(name, fp4):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-m", "rooflint", "hardware", name, "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout
    hw = json.loads(out)["hardware"]
    assert hw["peak_flop_per_s"]["fp4"] == pytest.approx(fp4, rel=1e-9)
    assert hw["ridge_points"]["fp4"] == pytest.approx(fp4 / 8e12, rel=1e-9)
