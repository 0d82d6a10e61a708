"""Calibration recovers known ceilings and losses from synthetic timings; a saved profile loads
back and changes the analyzer's prediction."""

import json
import math
import os

import pytest

from rooflint.analysis.roofline import place
from rooflint.compare.calibration import calibrate, profile_document
from rooflint.compare.comparison import compare
from rooflint.compare.groups import growth_exponent
from rooflint.compare.kernels import case_ops
from rooflint.measure.cases import GiB, KiB, MiB, case
from rooflint.measure.result import Measurement
from rooflint.measure.stats import summarize
from rooflint.specs.catalog import hardware_from_mapping

DATA = os.path.join(os.path.dirname(__file__), "data")

BW, PEAK, T0, HALF = 20e9, 500e9, 2e-6, 1e7  # the machine the synthetic timings come from
FIXTURE = os.path.join(DATA, "measurements", "cpu-quick.json")


def timed(c, seconds, backend="torch", sets=1):
    return Measurement(c, backend, "cpu", summarize([seconds] * 5), "host-clock", "settled", 0.0, sets)


def synthetic():
    ms = []
    for n in (4 * KiB, 1 * MiB, 64 * MiB, 1 * GiB):
        c = case("copy", "fp32", n=n)
        ms.append(timed(c, T0 + 2 * n / BW))
    for m, n, k in ((64, 64, 64), (256, 256, 256), (1024, 1024, 1024), (4096, 4096, 4096), (1, 4096, 4096), (16, 4096, 4096)):
        c = case("gemm", "fp32", M=m, N=n, K=k)
        F, B = 2 * m * n * k, 4 * (m * k + k * n + m * n)
        ms.append(timed(c, T0 + max((F + HALF) / PEAK, B / BW)))
    return ms


def test_calibration_recovers_the_machine():
    cal = calibrate(synthetic(), "Fake CPU", "2026-11-24", cache_bytes=None)
    stack = cal.stacks["torch"]
    # The best copy (1 GiB) reaches BW less t0's share: 2 GiB / (2e-6 + 0.107 s).
    assert stack.bandwidth.value == pytest.approx(BW, rel=1e-4)
    # The best GEMM (4096^3) is 137 GFLOP + F_half of work: within 0.01% of the peak.
    assert stack.peaks["fp32"].value == pytest.approx(PEAK, rel=1e-3)
    assert stack.overhead_s == pytest.approx(T0, rel=1e-3)
    # The grid has 24 points per decade: 10% steps.
    assert stack.half_flop["fp32"] == pytest.approx(HALF, rel=0.1)
    hw = cal.hardware()
    assert hw.calibrated and hw.device_names == ("Fake CPU",)
    assert hw.provenance["bandwidth"]["size"] == "1 GiB" and hw.provenance["compute.fp32"]["kernel"] == "gemm"


def test_calibrated_prediction_fits_small_shapes_the_datasheet_misses():
    ms = synthetic()
    cal = calibrate(ms, "Fake CPU", "2026-11-24", cache_bytes=None)
    fitted = cal.hardware()
    bare = hardware_from_mapping({"name": "bare", "memory": {"capacity": "1 GiB", "bandwidth": "20 GB/s"},
                                  "compute": {"fp32": "0.5 TFLOP/s"}}, "bare")
    small = next(m for m in ms if m.case.params.get("M") == 64)
    row = compare(small, bare, fitted)
    assert abs(row.calibrated_error) < 0.1
    assert row.datasheet_error < -0.5  # 64^3 is mostly overhead and ramp-up: the bare roof is far too fast


def test_cache_resident_copies_do_not_set_the_bandwidth():
    ms = synthetic()
    fast = timed(case("copy", "fp32", n=1 * MiB), 2 * MiB / 200e9)  # an L2-speed copy of 1 MiB x 1 set
    cal = calibrate(ms + [fast], "Fake CPU", "2026-11-24", cache_bytes=32 * MiB)
    assert cal.stacks["torch"].bandwidth.value == pytest.approx(BW, rel=1e-4)


def test_saved_profile_loads_back_and_changes_the_prediction(cli, tmp_path):
    profile = tmp_path / "measured.yaml"
    cli("measure", "--load", FIXTURE, "--save-profile", str(profile), "-f", "json")
    doc = json.loads(cli("measure", "--load", FIXTURE, "-f", "json").stdout)
    torch_bw = doc["calibration"]["backends"]["torch"]["bandwidth_bytes_per_s"]
    t0 = doc["calibration"]["backends"]["torch"]["kernel_overhead_s"]
    shown = cli.json("hardware", str(profile))["hardware"]
    assert shown["bandwidth_bytes_per_s"] == pytest.approx(torch_bw, rel=1e-5)
    mine = cli.json("analyze", "llama2-7b", "--gpu", str(profile), "--dtype", "bf16")
    sheet = cli.json("analyze", "llama2-7b", "--gpu", "a100", "--dtype", "bf16")
    assert mine["phases"]["decode"]["time_s"] > 10 * sheet["phases"]["decode"]["time_s"]  # a CPU, not an A100
    # A decode step's down projection reads its weights: t0 + bytes / measured bandwidth.
    down = next(op for op in mine["phases"]["decode"]["ops"] if op["name"] == "down_proj")
    assert down["time_s"] == pytest.approx(t0 + (down["bytes_read"] + down["bytes_written"]) / torch_bw, rel=1e-4)


def test_growth_exponent():
    assert growth_exponent([(128, 1.0), (512, 1.0)]) == pytest.approx(0)
    assert growth_exponent([(128, 1.0), (256, 2.0), (512, 4.0)]) == pytest.approx(1)
    assert growth_exponent([(100, 1.0), (1000, 100.0)]) == pytest.approx(2)
    assert growth_exponent([(100, 1.0)]) is None
    assert math.isfinite(growth_exponent([(1, 1e-6), (2, 3e-6)]))


def test_profile_document_round_trips():
    hw = calibrate(synthetic(), "Fake CPU", "2026-11-24", cache_bytes=None, capacity_bytes=24 * GiB).hardware()
    back = hardware_from_mapping(profile_document(hw), "x.yaml")
    assert back.bandwidth_bytes_per_s == pytest.approx(hw.bandwidth_bytes_per_s, rel=1e-5)
    assert back.kernel_overhead_s == pytest.approx(hw.kernel_overhead_s, rel=1e-5)
    assert back.matmul_half_flop["fp32"] == pytest.approx(hw.matmul_half_flop["fp32"], rel=1e-5)
    (op,) = case_ops(case("gemm", "fp32", M=64, N=64, K=64))
    assert place(op, back).time_s == pytest.approx(place(op, hw).time_s, rel=1e-5)
