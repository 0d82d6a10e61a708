"""The forecast beside every bound: its pieces held to outside figures (a measured GEMM pair that
shows wave quantization, nccl-tests all-reduces, the flash kernel of TRT-LLM's 16k/d=256 case),
JSON siblings for every roofline time, engine presets, and the named parameters a fit varies."""

import csv
import json
import math
import os
from statistics import median

import pytest
import yaml
from conftest import DATA

from rooflint.analysis.forecast import WAVE, factor_names, parameter_value, parameters
from rooflint.analysis.inference import analyze
from rooflint.analysis.plan import RING_FORECAST
from rooflint.specs.catalog import load_engine, load_hardware, load_model
from rooflint.workload import Workload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALIDATION = os.path.join(ROOT, "rooflint", "data", "validation")


def gemm(cli, m, n, k, gpu="h100-sxm", engine="trtllm"):
    return json.loads(cli("gemm", str(m), str(n), str(k), "--gpu", gpu, "--dtype", "bf16", "--engine", engine,
                          "--format", "json").stdout)


def test_wave_quantization_of_a_measured_gemm_pair(cli):
    """aiconfigurator, H100 TensorRT-LLM bf16 (shared/reference/measured/kernels-train.csv rows
    h100_sxm/gemm/trtllm/.. M=256 and M=513, N=7168, K=65536): 0.346 ms and 0.792 ms, 2.29x for
    2.00x the FLOPs. M=513 needs a fifth row of 128-row tiles: 5 x 56 = 280 tiles on 132 SMs run
    in 3 waves (eta = 280 / 396), where M=256 fills one wave of 112 (eta = 112 / 132)."""
    small, large = gemm(cli, 256, 7168, 65536), gemm(cli, 513, 7168, 65536)
    assert small["op"]["forecast"]["wave_efficiency"] == pytest.approx(112 / 132)
    assert large["op"]["forecast"]["wave_efficiency"] == pytest.approx(280 / 396)
    measured = 0.792e-3 / 0.346e-3
    ratio = large["time_forecast_s"] / small["time_forecast_s"]
    assert ratio == pytest.approx(measured, rel=0.10)
    assert large["time_s"] / small["time_s"] < 0.8 * measured  # the bound sees only the FLOPs
    for doc, t in ((small, 0.346e-3), (large, 0.792e-3)):
        assert doc["time_forecast_s"] == pytest.approx(t, rel=0.2)
        assert doc["time_s"] <= t  # and the bound still holds


def test_wave_efficiency_is_the_busy_share_of_the_waves():
    # 133 tiles on 132 SMs: two waves, the second with one tile
    assert WAVE.evaluate({"u": 133, "sm": 132}) == pytest.approx(133 / 264)
    assert WAVE.evaluate({"u": 132, "sm": 132}) == 1


def test_split_k_fills_the_sms_for_a_few_tiles(cli):
    """M = N = 128 is one tile; K = 65536 lets a split-K give every SM a 256+ slice (132 x 256 <
    65536), so the kernel is not charged 1/132 of the GPU."""
    doc = gemm(cli, 128, 128, 65536)
    assert doc["op"]["forecast"]["wave_efficiency"] == 1.0
    assert gemm(cli, 128, 128, 128)["op"]["forecast"]["wave_efficiency"] == pytest.approx(1 / 132)


def _nccl(system: str, n: int, size: int) -> float:
    with open(os.path.join(VALIDATION, "collectives.csv"), encoding="utf-8") as f:
        times = [float(r["time_s"]) for r in csv.DictReader(f) if r["impl"] == "nccl" and r["op"] == "all_reduce" and r["system"] == system
                 and int(r["n_gpus"]) == n and float(r["message_bytes"]) == size]
    assert times, (system, n, size)
    return median(times)


@pytest.mark.parametrize("gpu,system", [("a100-80gb", "a100_sxm"), ("h100-sxm", "h100_sxm")])
@pytest.mark.parametrize("n", [2, 4, 8])
def test_an_all_reduce_forecast_against_nccl_tests(gpu, system, n):
    """nccl-tests all_reduce_perf (aiconfigurator's tables, rooflint/data/validation/collectives.csv),
    64 MiB per rank: latency + 2(n-1)/n x bytes / (link x link share), the share and latency
    fitted from those rows' large and small messages. The bound (bandwidth alone, the whole link)
    is 2-3x too fast."""
    hw = load_hardware(gpu)
    a = hw.achievable
    size = 64 * 2**20
    values = {"L": 0.5, "N": n, "T": size, "D": 1, "b_a": 1, "link": hw.interconnect_bytes_per_s,
              "f_link": a.link_fraction, "t_ar": a.collective_latency_s}
    measured = _nccl(system, n, size)
    assert RING_FORECAST.evaluate(values) == pytest.approx(measured, rel=0.2)
    bound = 2 * (n - 1) / n * size / hw.interconnect_bytes_per_s
    assert bound < 0.6 * measured


def test_the_flash_forecast_of_the_16k_d256_case_is_near_its_measurement(cli):
    """TRT-LLM causal context attention, H100, N=16384, 32 heads of 256: 7.94 ms measured
    (published-train.json aic-fmha-h100-d256-b1-n16384); the bound stays below it, the forecast
    within the 25% a p90 error may reach (it rests on the fitted head_dim-256 share)."""
    doc = json.loads(cli("attention", "--seq", "16384", "--head-dim", "256", "--heads", "32", "--gpu", "h100-sxm",
                         "--causal", "--dtype", "bf16", "--engine", "trtllm", "--format", "json").stdout)
    row = doc["rows"][0]
    assert row["flash_time_s"] <= 7.94e-3
    assert row["flash_time_forecast_s"] == pytest.approx(7.94e-3, rel=0.25)
    assert row["flash_op"]["time_forecast_s"] == row["flash_time_forecast_s"]


def _times(doc, path=""):
    """Every (path, key) of a JSON document whose key is a roofline time `<name>_s`."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("forecast", "hardware", "settings", "model", "shard", "symbols"):
                continue  # the forecast's parameters, specs (floors, latencies), op symbols (N_s) are not times
            if isinstance(v, (dict, list)):
                yield from _times(v, f"{path}.{k}")
            elif k.endswith("_s") and not k.endswith(("_per_s", "_forecast_s")) and isinstance(v, (int, float)):
                yield doc, path, k
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _times(v, f"{path}[{i}]")


@pytest.mark.parametrize("args", [
    ["analyze", "llama3-8b", "--gpu", "h100", "--batch", "8"],
    ["analyze", "mixtral-8x7b", "--gpu", "h100", "--weight-dtype", "int4"],
    ["plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--context", "8k"],
    ["plan", "llama2-7b", "--gpu", "a100", "--context", "1000"],
    ["gemm", "4096", "4096", "4096"],
    ["attention", "--gpu", "a100", "--seq", "1024,4096"],
    ["generate", "llama2-7b", "--gpu", "a100", "--prompt", "100", "--new-tokens", "200"],
    ["sweep", "-m", "llama3-8b", "-g", "h100", "-b", "1,8", "-c", "1k,8k"],
])
def test_every_roofline_time_has_a_forecast_beside_it(cli, args):
    doc = json.loads(cli(*args, "--format", "json").stdout)
    seen = 0
    for holder, path, key in _times(doc):
        sibling = key[:-2] + "_forecast_s"
        assert sibling in holder, f"{path}.{key} has no {sibling}"
        if holder[key] > 0:
            assert holder[sibling] > 0 and math.isfinite(holder[sibling]), (path, key)
        seen += 1
    assert seen >= 2


def test_the_pass_forecast_is_its_ops_plus_the_step_overhead(cli):
    doc = json.loads(cli("analyze", "llama2-7b", "--gpu", "a100-80gb", "--engine", "gpt-fast", "--batch", "1",
                         "--format", "json").stdout)
    step = load_engine("gpt-fast").step_overhead_s
    for phase, total in (("prefill", "ttft_forecast_s"), ("decode", "tpot_forecast_s")):
        ops = doc["phases"][phase]["ops"]
        assert doc["totals"][total] == pytest.approx(sum(o["count"] * o["time_forecast_s"] for o in ops) + step)
        assert doc["phases"][phase]["time_forecast_s"] == doc["totals"][total]
        assert doc["totals"][total] > doc["totals"][total.replace("_forecast", "")]


def test_eager_launches_cost_what_the_kernels_do_not(cli):
    """hf (eager PyTorch) launches every kernel from Python; at batch 1 a decode step of short
    kernels waits for the host: max(t_launch, kernel) per kernel, so the step is at least
    kernels x t_launch. vLLM replays the step as a CUDA graph."""
    m, hw = load_model("llama2-7b"), load_hardware("h100-sxm")
    eager = analyze(m, hw, Workload(batch=1, prompt=16, context=16, engine="hf"))
    graph = analyze(m, hw, Workload(batch=1, prompt=16, context=16, engine="vllm"))
    kernels = sum(t.op.count for t in eager.decode.ops)
    hf = load_engine("hf")
    assert eager.tpot_forecast_s >= kernels * hf.launch_s + hf.step_overhead_s
    assert graph.tpot_forecast_s < eager.tpot_forecast_s


def test_a_weight_only_gemv_streams_at_the_engines_dequant_share():
    """gpt-fast's int4 decode: the GEMV dequantizes as it streams, at dequant_efficiency.int4 of
    the bandwidth share; a bf16 GEMV has no such factor."""
    m, hw = load_model("llama2-7b"), load_hardware("a100-80gb")
    a = analyze(m, hw, Workload(batch=1, prompt=1, context=128, weight_dtype="int4", engine="gpt-fast"))
    up = next(t for t in a.decode.ops if t.op.name == "up_proj")
    names = factor_names(up.op.form, hw, a.resolved.engine)
    assert names["f_bw"] == ("hw.bandwidth_fraction", "engine.dequant_efficiency.int4")
    p = parameters(up.op.form, hw, a.resolved.engine)
    assert p.f_bw == pytest.approx(hw.achievable.bandwidth_fraction * load_engine("gpt-fast").dequant_of("int4"))
    assert parameter_value("engine.dequant_efficiency.int4", hw, a.resolved.engine) == \
        load_engine("gpt-fast").dequant_efficiency["int4"]


def test_the_tp_forecast_adds_each_all_reduce_latency(cli):
    doc = json.loads(cli("plan", "llama2-70b", "--gpu", "a100-80gb", "--tp", "8", "--batch", "1", "--context", "105",
                         "--engine", "gpt-fast", "--format", "json").stdout)["plan"]
    layers, t_ar = 80, load_engine("gpt-fast").allreduce_latency_s
    assert doc["allreduce_decode_forecast_s"] >= 2 * layers * t_ar
    assert doc["allreduce_decode_s"] < 0.01 * doc["allreduce_decode_forecast_s"]  # bandwidth alone: ~nothing
    assert doc["tpot_forecast_s"] > doc["tpot_s"]


def test_hardware_json_carries_the_achievable_ceilings_with_their_source(cli):
    doc = json.loads(cli("hardware", "h100", "--format", "json").stdout)["hardware"]
    with open(os.path.join(ROOT, "hardware", "achievable", "fitted.yaml"), encoding="utf-8") as f:
        fitted = yaml.safe_load(f)["gpus"]["h100-sxm"]
    ach = doc["achievable"]
    assert ach["bandwidth_bytes_per_s"] == pytest.approx(3350e9 * fitted["bandwidth_fraction"])
    assert ach["peak_flop_per_s"]["bf16"] == pytest.approx(989.4e12 * fitted["peak_fraction"]["bf16"])
    assert "fitted" in ach["source"]["peak_fraction"]
    # a GPU the data does not cover gets the pooled fit
    b200 = json.loads(cli("hardware", "b200", "--format", "json").stdout)["hardware"]["achievable"]
    assert "every GPU pooled" in b200["source"]["bandwidth_fraction"]


def test_every_engine_preset_loads_and_an_unknown_one_is_refused(cli):
    for name in ("gpt-fast", "vllm", "sglang", "trtllm", "llama.cpp", "hf"):
        assert load_engine(name).name == name
    r = cli("analyze", "llama2-7b", "--engine", "tgi", code=2)
    assert "unknown engine 'tgi'" in r.stderr and r.stdout == ""


def test_a_malformed_engine_file_is_one_line(cli, tmp_path):
    bad = tmp_path / "e.yaml"
    bad.write_text("name: x\ngraphs: maybe\n")
    r = cli("analyze", "llama2-7b", "--engine", str(bad), code=2)
    assert r.stderr.count("\n") == 1 and "graphs" in r.stderr


def test_a_profile_may_carry_its_own_achievable_section(cli, tmp_path):
    with open(os.path.join(ROOT, "hardware", "h100-sxm.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    with open(os.path.join(ROOT, "hardware", "achievable", "fitted.yaml"), encoding="utf-8") as f:
        own = yaml.safe_load(f)["gpus"]["h100-sxm"]
    own["bandwidth_fraction"] = 0.5
    raw.update(name="my-h100", aliases=[], achievable=own)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    doc = json.loads(cli("hardware", str(path), "--format", "json").stdout)["hardware"]["achievable"]
    assert doc["bandwidth_bytes_per_s"] == pytest.approx(0.5 * 3350e9)
    raw["achievable"]["bandwidth_fraction"] = 1.5
    path.write_text(yaml.safe_dump(raw))
    r = cli("hardware", str(path), code=2)
    assert "achievable.bandwidth_fraction" in r.stderr


def test_the_data_dir_configs_still_analyse_with_a_forecast(cli):
    doc = json.loads(cli("analyze", os.path.join(DATA, "configs", "deepseek-v3"), "--gpu", "h200",
                         "--format", "json").stdout)
    assert doc["totals"]["tpot_forecast_s"] > doc["totals"]["tpot_s"] > 0


def test_a_measured_profile_forecasts_with_its_own_numbers(cli, tmp_path):
    """`measure --save-profile` keeps the run's fit as the forecast's parameters: the measured copy
    and GEMMs are the ceilings (shares of 1) and the fitted t0 is the kernel floor, so a GEMM on the
    saved profile is forecast as t0 + max(F / (P_measured eta), bytes / BW_measured)."""
    out = tmp_path / "mine.yaml"
    cli("measure", "--load", os.path.join(DATA, "measurements", "cpu-quick.json"), "--save-profile", str(out))
    hw = load_hardware(str(out))
    a = hw.achievable
    assert a.bandwidth_fraction == 1.0 and a.peak_fraction_of("fp32") == 1.0
    assert a.kernel_floor_s == pytest.approx(hw.kernel_overhead_s)
    assert "rooflint measure" in a.source["kernel_floor_s"]
    doc = json.loads(cli("gemm", "512", "512", "512", "--gpu", str(out), "--dtype", "fp32", "--engine", "trtllm",
                         "--format", "json").stdout)
    flops, nbytes, half = 2 * 512**3, 3 * 512 * 512 * 4, hw.matmul_half_flop.get("fp32", 0.0)
    # no SM count: eta 1; the fitted ramp-up work F_half counts as in the bound
    want = hw.kernel_overhead_s + max((flops + half) / hw.peak("fp32"), nbytes / hw.bandwidth_bytes_per_s)
    assert doc["time_forecast_s"] == pytest.approx(want)
    assert doc["time_forecast_s"] >= doc["time_s"] * (1 - 1e-12)


def test_a_requests_forecast_sums_its_passes(cli):
    """generate: TTFT + each decode step's forecast (every step analysed when there are at most 64,
    evenly spaced ones scaled beyond); each step pays the engine's overhead."""
    doc = json.loads(cli("generate", "llama2-7b", "--gpu", "a100", "--prompt", "100", "--new-tokens", "40",
                         "--format", "json").stdout)
    m, hw = load_model("llama2-7b"), load_hardware("a100")
    steps = sum(analyze(m, hw, Workload(prompt=100, context=100 + i)).tpot_forecast_s for i in range(1, 40))
    ttft = analyze(m, hw, Workload(prompt=100)).ttft_forecast_s
    assert doc["with_cache"]["decode_time_forecast_s"] == pytest.approx(steps, rel=1e-12)
    assert doc["with_cache"]["time_forecast_s"] == pytest.approx(ttft + steps, rel=1e-12)
    long = json.loads(cli("generate", "llama2-7b", "--gpu", "a100", "--prompt", "100", "--new-tokens", "1000",
                          "--format", "json").stdout)["with_cache"]
    every = sum(analyze(m, hw, Workload(prompt=100, context=100 + i)).tpot_forecast_s for i in range(1, 1000, 7))
    assert long["decode"]["forecast_passes_evaluated"] == 64
    assert long["decode_time_forecast_s"] == pytest.approx(every * 999 / len(range(1, 1000, 7)), rel=0.01)


@pytest.mark.parametrize("model", ["llama3-8b", "mixtral-8x7b", "deepseek-v2-lite"])
@pytest.mark.parametrize("engine", ["vllm", "hf", "llama.cpp", "gpt-fast"])
def test_the_forecast_never_beats_the_bound(model, engine):
    """Every share is of a datasheet figure and at most 1 (a product of factors is capped), floors
    and launches only add: on a datasheet profile each op's forecast is at least its bound."""
    a = analyze(load_model(model), load_hardware("h100"), Workload(batch=4, prompt=512, context=2048, engine=engine))
    for phase in (a.prefill, a.decode):
        for t in phase.ops:
            assert t.forecast_s >= t.time_s * (1 - 1e-12), (t.op.name, t.forecast_s, t.time_s)


def test_fp16_and_bf16_gemms_share_one_fitted_share(cli):
    """Same tensor-core rate on every GPU rooflint knows, so one parameter: an fp16 and a bf16
    prefill forecast alike (the bound already did)."""
    docs = [json.loads(cli("analyze", "llama2-7b", "--gpu", "h200", "--dtype", dt, "--prompt", "4096",
                           "--format", "json").stdout)["totals"] for dt in ("fp16", "bf16")]
    assert docs[0]["ttft_forecast_s"] == pytest.approx(docs[1]["ttft_forecast_s"], rel=1e-9)


@pytest.mark.parametrize("edit,needle", [
    (lambda a: a["peak_fraction"].pop("*"), "achievable.peak_fraction"),
    (lambda a: a.update(kernel_floor_s="soon"), "achievable.kernel_floor_s"),
    (lambda a: a.update(colour="red"), "achievable.colour"),
])
def test_a_bad_achievable_section_is_one_line(cli, tmp_path, edit, needle):
    with open(os.path.join(ROOT, "hardware", "h100-sxm.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    with open(os.path.join(ROOT, "hardware", "achievable", "fitted.yaml"), encoding="utf-8") as f:
        own = yaml.safe_load(f)["gpus"]["h100-sxm"]
    edit(own)
    raw.update(name="mine", aliases=[], achievable=own)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    r = cli("analyze", "llama2-7b", "--gpu", str(path), code=2)
    assert needle in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""


def test_an_engine_file_may_write_3e_6(cli, tmp_path):
    """YAML 1.1 reads 3e-6 (no dot) as text; an engine file means a number."""
    with open(os.path.join(ROOT, "engines", "hf.yaml"), encoding="utf-8") as f:
        text = f.read()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("launch: 2.0e-5", "launch: 3e-6").replace("name: hf", "name: mine"))
    assert load_engine(str(path)).launch_s == 3e-6


def _flash_op(doc, phase="prefill"):
    return next(o for o in doc["phases"][phase]["ops"] if o["name"] == "flash_attention")


SHORT_PROMPTS = ["analyze", "llama2-7b", "--set", "num_attention_heads=48", "--set", "num_key_value_heads=8",
                 "--set", "head_dim=64", "--batch", "256", "--prompt", "32", "--gpu", "h100-sxm", "--dtype", "bf16",
                 "--kv-dtype", "bf16", "--attention", "flash", "--engine", "trtllm"]


def test_many_short_prompts_take_a_least_time_per_wave_of_blocks(cli):
    """aiconfigurator, H100 TensorRT-LLM bf16 context attention, 256 prompts of 32 tokens, 48 query
    heads of 64 (kernels-train.csv h100_sxm/attention/trtllm/1.3.0rc20/context_attention_perf#10329):
    0.397 ms measured, 11x the roofline bound: 3.3 GFLOP is 3 us of tensor cores and 119 MB is
    35 us of HBM. Its grid is 256 x 48 x ceil(32 / 128) = 12,288 blocks on 132 SMs, 94 waves,
    and it is each wave's fixed cost (a Q tile and its K/V loaded, the softmax, O written) that
    adds up."""
    doc = cli.json(*SHORT_PROMPTS)
    op = _flash_op(doc)
    fc = op["forecast"]
    assert fc["waves"] == math.ceil(256 * 48 * math.ceil(32 / 128) / 132) == 94
    assert fc["wave_scale"] == 64 / 128
    hw = load_hardware("h100-sxm")
    assert fc["t_wave_s"] == pytest.approx(hw.achievable.attention_wave_s * 64 / 128)
    assert op["time_forecast_s"] == pytest.approx(fc["t_floor_s"] + 94 * fc["t_wave_s"])  # the wave term rules
    measured = 0.397e-3
    assert op["time_forecast_s"] == pytest.approx(measured, rel=0.25)
    assert op["time_s"] < 0.1 * measured


def test_an_achievable_file_without_the_wave_time_forecasts_without_it(cli, tmp_path):
    """A calibration saved before attention_wave_s existed still loads: its FlashAttention
    forecast has no wave term (0 s), so the same 94 waves cost nothing."""
    with open(os.path.join(ROOT, "hardware", "h100-sxm.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    with open(os.path.join(ROOT, "hardware", "achievable", "fitted.yaml"), encoding="utf-8") as f:
        own = yaml.safe_load(f)["gpus"]["h100-sxm"]
    own.pop("attention_wave_s")
    own["source"].pop("attention_wave_s", None)
    raw.update(name="old-h100", aliases=[], achievable=own)
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(raw))
    args = [a if a != "h100-sxm" else str(path) for a in SHORT_PROMPTS]
    op = _flash_op(cli.json(*args))
    assert op["forecast"]["t_wave_s"] == 0
    assert op["time_forecast_s"] < 0.2 * _flash_op(cli.json(*SHORT_PROMPTS))["time_forecast_s"]
    assert "waves*t_wave" in _flash_explain(cli, SHORT_PROMPTS)
    assert "waves" not in _flash_explain(cli, args)


def _flash_explain(cli, args):
    """The prefill FlashAttention op's time_forecast_s line of --explain."""
    block = cli(*args, "--explain").stdout.split("prefill.flash_attention  (")[1]
    return next(line for line in block.splitlines() if line.strip().startswith("time_forecast_s ="))
