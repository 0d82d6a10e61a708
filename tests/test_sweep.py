"""The vectorized sweep equals the scalar analyzer point by point; its command and writers."""

import csv
import io
import itertools
import json
import math
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from rooflint.analysis.inference import analyze
from rooflint.analysis.sweep import COLUMNS, Grid, sweep
from rooflint.specs.catalog import (
    builtin_names,
    hardware_from_mapping,
    load_hardware,
    load_model,
)
from rooflint.workload import Workload

MODELS = [load_model(n) for n in builtin_names("models")] + [load_model("tests/data/configs/gemma2-2b")]
GPUS = [load_hardware(n) for n in builtin_names("hardware")]
FP16_GPUS = [h for h in GPUS if "fp16" in h.peak_flop_per_s]
BY_NAME = {m.name: m for m in MODELS}
GPU_BY_NAME = {h.name: h for h in GPUS}
KVS, KERNELS = ["fp16", "fp8", "int4"], ["eager", "flash"]
FIGURES = {"tpot_s": "tpot_s", "ttft_s": "ttft_s", "kv_bytes": "kv_bytes", "weights_bytes": "weights_bytes",
           "workspace_bytes": "workspace_bytes", "memory_bytes": "total_bytes", "free_bytes": "free_bytes",
           "decode_tokens_per_s": "decode_tokens_per_s", "prefill_tokens_per_s": "prefill_tokens_per_s"}


@pytest.fixture(scope="module")
def big():
    g = Grid(MODELS, FP16_GPUS, [1, 3, 16, 128], [1, 255, 4096, 40000], KVS, KERNELS, "fp16")
    return g, sweep(g)


def assert_point_is_the_analyzer(result, i, hw=None):
    """Row i, read by its labels alone, against analyze() with the same Workload."""
    row = result.row(i)
    model, hw = BY_NAME[row["model"]], hw or GPU_BY_NAME[row["gpu"]]
    a = analyze(model, hw, Workload(batch=row["batch"], context=row["context"], dtype="fp16",
                                    kv_dtype=row["kv_dtype"], attention=row["attention"]))
    for column, attribute in FIGURES.items():
        assert row[column] == pytest.approx(getattr(a, attribute), rel=1e-12), (column, row)
    assert row["fits"] is a.fits, row


def test_grid_covers_every_kind_of_model():
    kinds = {"mla": any(m.is_mla for m in MODELS), "moe": any(m.is_moe for m in MODELS),
             "window": any(m.sliding_window for m in MODELS),
             "mqa": any(m.num_key_value_heads == 1 for m in MODELS),
             "gqa": any(1 < m.num_key_value_heads < m.num_attention_heads for m in MODELS),
             "mha": any(m.num_key_value_heads == m.num_attention_heads for m in MODELS)}
    assert all(kinds.values()), kinds
    assert len(FP16_GPUS) >= 8


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorized_equals_the_scalar_analyzer(big, seed):
    g, result = big
    assert len(result) == g.size == len(MODELS) * len(FP16_GPUS) * 3 * 2 * 4 * 4
    rng = random.Random(seed)
    region = g.size // len(MODELS)
    for mi in range(len(MODELS)):  # every model, 4 random points each per seed (>= 100 in all)
        for i in rng.sample(range(mi * region, (mi + 1) * region), 4):
            assert_point_is_the_analyzer(result, i)


def test_the_corners_of_the_grid(big):
    """Smallest and largest batch and context, every model, kernel and KV dtype, one GPU each."""
    g, result = big
    nb, nc = len(g.batches), len(g.contexts)
    for r in range(0, g.size // (nb * nc), 7):
        for b, c in ((0, 0), (0, nc - 1), (nb - 1, 0), (nb - 1, nc - 1)):
            assert_point_is_the_analyzer(result, r * nb * nc + b * nc + c)


def test_calibrated_profile_sweeps_like_the_analyzer():
    """A measured profile's t0 and F_half go into every op of the sweep as into analyze; it has
    no SM count nor SRAM size, so flash runs on resolve's fallbacks in both."""
    spec = {"name": "cal", "memory": {"capacity": "80 GiB", "bandwidth": "2 TB/s"},
            "compute": {"fp16": "300 TFLOP/s", "fp32": "20 TFLOP/s"}}
    hw = hardware_from_mapping({**spec, "calibration": {"kernel_overhead": "5 us",
                                                        "matmul_half_work": {"fp16": "2 GFLOP"}}}, "cal.yaml")
    result = sweep(Grid(MODELS, [hw], [1, 64], [512, 5000], KVS, KERNELS, "fp16"))
    for i in range(len(result)):
        assert_point_is_the_analyzer(result, i, hw)
    datasheet = sweep(Grid(MODELS, [hardware_from_mapping(spec, "plain.yaml")], [1, 64], [512, 5000], KVS, KERNELS))
    # every kernel pays t0 (and each matmul F_half): a decode step of L layers pays > L x 5 us more
    extra = result.column("tpot_s") - datasheet.column("tpot_s")
    layers = np.repeat([m.num_hidden_layers for m in MODELS], len(result) // len(MODELS))
    assert np.all(extra > layers * 5e-6)


def test_rows_are_the_product_in_order():
    g = Grid(MODELS[:2], GPUS[:2], [1, 7], [100, 2000, 9000], ["fp16", "int4"], KERNELS)
    result = sweep(g)
    expected = itertools.product([m.name for m in g.models], [h.name for h in g.gpus], ["fp16", "int4"], KERNELS,
                                 [1, 7], [100, 2000, 9000])
    got = [tuple(result.row(i)[k] for k in ("model", "gpu", "kv_dtype", "attention", "batch", "context"))
           for i in range(len(result))]
    assert got == list(expected)
    assert result.dtype == "fp16"  # resolve's default


def test_blocks_do_not_change_a_number():
    """Whole rows of contexts per block, or parts of one row: the same values to the bit."""
    g = Grid(MODELS[:2], GPUS[:1], [1, 2, 5], list(range(1, 3000, 1)), ["fp8"], KERNELS)
    one, many = sweep(g, block_bytes=1 << 30), sweep(g, block_bytes=1)
    for k in COLUMNS:
        assert np.array_equal(one.column(k), many.column(k)), k
    assert_point_is_the_analyzer(many, len(many) - 1)


def test_labels_are_codes_and_the_per_point_columns_are_lean():
    result = sweep(Grid(MODELS[:1], GPUS[:2], [1, 2], [64, 128], ["fp16"], KERNELS))
    assert result.column("model").dtype == np.uint8 and result.column("batch").dtype == np.int32
    assert set(result.points) == {"kv_bytes", "memory_bytes", "free_bytes", "fits", "tpot_s", "tpot_forecast_s",
                                  "decode_tokens_per_s", "ttft_s", "ttft_forecast_s", "prefill_tokens_per_s"}
    assert sum(a.itemsize for a in result.points.values()) == 73  # bytes stored per configuration
    assert result.column("gpu", 6, 10).tolist() == [0, 0, 1, 1]  # regions of 2 x 2 rows, 2 kernels per GPU
    assert result.column("context", 5, 8).tolist() == [128, 64, 128]


# ------------------------------------------------------------------ the command

def test_sweep_command_writes_every_point(cli, tmp_path):
    out = tmp_path / "grid.csv"
    cli("sweep", "-m", "llama2-7b,mistral-7b", "-g", "a100,h100", "-b", "1,8,64", "-c", "4k,32k",
        "--kv-dtype", "fp16,int4", "-f", "csv", "-o", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 1 + 2 * 2 * 3 * 2 * 2 * 2
    doc = json.loads(cli("sweep", "-m", "llama2-7b", "-g", "h100", "-b", "1", "-c", "4k", "--kv-dtype", "fp16",
                         "-f", "json").stdout)
    assert doc["schema"] == "rooflint.sweep/2" and doc["columns"] == list(COLUMNS) and doc["configurations"] == 2
    p0, p1 = doc["points"]
    assert (p0["attention"], p1["attention"]) == ("eager", "flash")
    a = analyze(load_model("llama2-7b"), load_hardware("h100"), Workload(batch=1, context=4096))  # flash
    assert p1["tpot_s"] == pytest.approx(a.tpot_s, rel=1e-12) and p1["ttft_s"] == pytest.approx(a.ttft_s, rel=1e-12)
    eager = analyze(load_model("llama2-7b"), load_hardware("h100"), Workload(batch=1, context=4096, attention="eager"))
    assert p0["ttft_s"] == pytest.approx(eager.ttft_s, rel=1e-12) and p0["ttft_s"] > p1["ttft_s"]
    assert p0["kv_bytes"] == 2 * 32 * 32 * 128 * 2 * 4096 == 2 * 1024**3  # K and V, 32 layers x 32 heads x 128, fp16


def _parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("writer", ["pyarrow", "python"])
def test_csv_holds_the_sweep(cli, tmp_path, monkeypatch, writer):
    if writer == "pyarrow":
        pytest.importorskip("pyarrow")
    else:
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    out = tmp_path / "grid.csv"
    cli("sweep", "-m", "llama3-8b,deepseek-v2-lite", "-g", "h100", "-b", "1,32", "-c", "1k,16k", "--kv-dtype",
        "fp16,int4", "-f", "csv", "-o", str(out))
    rows = _parse_csv(out.read_text())
    result = sweep(Grid([load_model("llama3-8b"), load_model("deepseek-v2-lite")], [load_hardware("h100")], [1, 32],
                        [1024, 16384], ["fp16", "int4"]))
    assert len(rows) == len(result) == 2 * 2 * 2 * 2 * 2
    for i, row in enumerate(rows):
        want = result.row(i)
        assert row["fits"] == ("true" if want["fits"] else "false")
        for k in COLUMNS:
            if k in ("model", "gpu", "kv_dtype", "attention"):
                assert row[k] == want[k]
            elif k != "fits":
                assert float(row[k]) == want[k], (k, row[k])
    assert re.fullmatch(r"\d+", rows[0]["weights_bytes"])  # whole byte counts as integers


def test_table_shows_the_first_40_rows(cli):
    out = cli("sweep", "-m", "llama2-7b", "-g", "h100,a100", "-b", "1,2,4,8,16", "-c", "1k,2k", "--kv-dtype",
              "fp16,fp8").stdout
    assert "rooflint sweep: 80 configurations" in out
    assert "showing the first 40 of 80 configurations" in out
    assert len(re.findall(r"^│ llama2-7b", out, re.MULTILINE)) == 40
    md = cli("sweep", "-m", "llama2-7b", "-g", "h100", "-b", "1", "-c", "1k", "-f", "markdown").stdout
    assert md.count("| llama2-7b |") == 4 and "showing" not in md  # fp16, fp8 x eager, flash


def _at(doc, key):
    m = re.fullmatch(r"points\[(\d+)\]\.(\w+)", key)
    return doc["points"][int(m[1])][m[2]]


def test_explain_terms_are_the_first_point(cli):
    doc = json.loads(cli("sweep", "-m", "mistral-7b,deepseek-v2-lite", "-g", "l4,h100", "-b", "3,16", "-c",
                         "255,40000", "--kv-dtype", "int4", "-f", "json", "--explain").stdout)
    entries = doc["explanation"]
    assert {e["key"] for e in entries} >= {f"points[0].{k}" for k in ("tpot_s", "ttft_s", "kv_bytes",
                                                                      "weights_bytes", "memory_bytes", "free_bytes")}
    names = {"min": min, "max": max, "ceil": math.ceil, "floor": math.floor}
    for e in entries:
        value = eval(e["expr"], {"__builtins__": {}, **names}, dict(e["bindings"]))  # our own test data
        assert value == pytest.approx(e["value"], rel=1e-12), e["key"]
        assert _at(doc, e["key"]) == pytest.approx(e["value"], rel=1e-12), e["key"]
    tpot = next(e for e in entries if e["key"] == "points[0].tpot_s")
    assert tpot["expr"].startswith("t_embedding + ") and "t_lm_head" in tpot["bindings"]
    kv = next(e for e in entries if e["key"] == "points[0].kv_bytes")
    assert "W" in kv["bindings"] and "min(C, W)" in kv["expr"]  # mistral's sliding window
    text = cli("sweep", "-m", "mistral-7b", "-g", "h100", "-b", "3", "-c", "40000", "--attention", "flash",
               "--explain").stdout
    assert "points[0]: mistral-7b on h100-sxm, batch 3, context 40000" in text
    assert "  tpot_s = t_embedding + " in text and "fits = free_bytes >= 0: yes" in text


def test_columnar_files(cli, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    args = ["sweep", "-m", "gpt2,mixtral-8x7b", "-g", "a100", "-b", "1,128", "-c", "1,4k", "--mem-util", "0.5",
            "--chunk", "512"]
    cli(*args, "-f", "parquet", "-o", str(tmp_path / "g.parquet"))
    cli(*args, "-f", "npz", "-o", str(tmp_path / "g.npz"))
    result = sweep(Grid([load_model("gpt2"), load_model("mixtral-8x7b")], [load_hardware("a100")], [1, 128],
                        [1, 4096], memory_utilization=0.5, chunk=512))
    table = pq.read_table(tmp_path / "g.parquet").to_pydict()
    npz = np.load(tmp_path / "g.npz")
    for k in COLUMNS:
        assert table[k] == [result.value(k, i) for i in range(len(result))], k
        decoded = npz[f"{k}_names"][npz[k]].tolist() if f"{k}_names" in npz else npz[k].tolist()
        assert decoded == table[k], k
    a = analyze(load_model("mixtral-8x7b"), load_hardware("a100"),
                Workload(batch=128, context=4096, memory_utilization=0.5, chunk=512, attention="flash",
                         kv_dtype="fp8"))  # the last row
    assert table["free_bytes"][-1] == pytest.approx(a.free_bytes, rel=1e-12)
    assert table["workspace_bytes"][-1] == a.workspace_bytes


@pytest.mark.parametrize("args, message", [
    (["-g", "a100,h100", "--dtype", "fp8"], "--gpus: a100-40gb has no fp8 peak; drop it or pick another --dtype"),
    (["--attention", "paged"], "--attention: expected eager or flash, got 'paged'"),
    (["-m", "nope"], "unknown model 'nope'"),
    (["-b", "0"], "--batch: expected a positive number, got 0"),
    (["-c", "4k,x"], "--context"),
    (["--kv-dtype", "fp7"], "--kv-dtype: unknown dtype 'fp7'"),
    (["-f", "xlsx"], "--format: expected table or csv or json or markdown or parquet or npz"),
    (["-f", "npz"], "--output: -f npz writes a binary file: give -o FILE"),
])
def test_sweep_bad_input(cli, tmp_path, args, message):
    out = tmp_path / "never.csv"
    result = cli("sweep", *args, *(["-o", str(out)] if "-f" not in args else []), code=2)
    assert result.output.count("\n") == 1 and message in result.output and "Traceback" not in result.output
    assert "h100" not in result.output or "--dtype" not in args
    assert not out.exists()


def test_parquet_without_pyarrow_says_how_to_get_it(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "g.parquet"
    result = cli("sweep", "-m", "gpt2", "-g", "h100", "-f", "parquet", "-o", str(out), code=2)
    assert result.output == "error: --format: parquet needs pyarrow: pip install 'rooflint[arrow]'\n"
    assert not out.exists()


def test_cli_start_up_imports_neither_numpy_nor_pyarrow():
    code = "import sys, rooflint.cli, rooflint.analysis.sweep, rooflint.report.sweep_view; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'numpy'" not in loaded and "'pyarrow'" not in loaded


@pytest.mark.parametrize("writer", ["pyarrow", "python"])
def test_csv_quotes_a_name_that_needs_it(writer, monkeypatch):
    from rooflint.report import sweep_view

    if writer == "pyarrow":
        pytest.importorskip("pyarrow")
    else:
        monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = sweep(Grid(MODELS[:1], GPUS[:1], [1], [64], ["fp16"], ["flash"]))
    result.names = {**result.names, "gpu": ('lab "x", rack 2',)}
    (row,) = _parse_csv(bytes(sweep_view.sweep_csv(result)).decode())
    assert row["gpu"] == 'lab "x", rack 2' and float(row["tpot_s"]) == result.value("tpot_s", 0)


def test_table_notes_contexts_past_a_models_positions(cli):
    out = cli("sweep", "-m", "gpt2,llama3-8b", "-g", "h100", "-b", "1", "-c", "2k", "--kv-dtype", "fp16").stdout
    assert "contexts up to 2048 exceed the max_position_embeddings of gpt2 (1024)" in out
