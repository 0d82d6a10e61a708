"""The vectorized sweep equals the scalar analyzer point by point."""

import json
import random

import pytest

from rooflint.analysis.inference import Settings, analyze
from rooflint.catalog import builtin_names, load_hardware, load_model
from rooflint.dtypes import dtype
from rooflint.sweep import Grid, sweep

MODELS = [load_model(n) for n in builtin_names("models")]  # dense, GQA, MQA, MLA, MoE, sliding window
GPUS = [load_hardware(n) for n in builtin_names("hardware")]


def grid(gpus):
    return Grid(MODELS, gpus, [1, 3, 16, 128], [1, 255, 4096, 40000],
                [dtype("fp16"), dtype("fp8"), dtype("int4")], ["eager", "flash"], dtype("fp16"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_equals_the_scalar_analyzer(seed):
    g = grid([h for h in GPUS if h.supports(dtype("fp16"))])
    cols = sweep(g)
    assert len(cols["model"]) == g.size
    rng = random.Random(seed)
    for i in rng.sample(range(g.size), 40):
        m, hw = load_model(cols["model"][i]), load_hardware(cols["gpu"][i])
        a = analyze(m, hw, Settings(batch=int(cols["batch"][i]), prompt=8, context=int(cols["context"][i]),
                                    dtype=dtype("fp16"), kv_dtype=dtype(cols["kv_dtype"][i]),
                                    attention=cols["attention"][i]))
        where = (cols["model"][i], cols["gpu"][i], cols["batch"][i], cols["context"][i], cols["kv_dtype"][i],
                 cols["attention"][i])
        assert cols["tpot_s"][i] == pytest.approx(a.tpot_s, rel=1e-12), where
        assert cols["kv_bytes"][i] == pytest.approx(a.kv_bytes, rel=1e-12), where
        assert cols["weights_bytes"][i] == pytest.approx(a.weights_bytes, rel=1e-12), where
        assert cols["fits"][i] == (a.weights_bytes + a.kv_bytes <= hw.capacity_bytes)


def test_calibrated_profile_sweeps_like_the_analyzer(tmp_path):
    """A measured profile's t0 and F_half go into every op of the sweep as into analyze."""
    from rooflint.catalog import hardware_from_mapping

    hw = hardware_from_mapping({"name": "cal", "memory": {"capacity": "80 GiB", "bandwidth": "2 TB/s"},
                                "compute": {"fp16": "300 TFLOP/s", "fp32": "20 TFLOP/s"},
                                "calibration": {"kernel_overhead": "5 us", "matmul_half_work": {"fp16": "2 GFLOP"}}},
                               "cal.yaml")
    cols = sweep(Grid(MODELS[:3], [hw], [1, 64], [512], [dtype("fp16")], ["eager"], dtype("fp16")))
    for i in range(len(cols["model"])):
        a = analyze(load_model(cols["model"][i]), hw,
                    Settings(batch=int(cols["batch"][i]), prompt=8, context=512, dtype=dtype("fp16")))
        assert cols["tpot_s"][i] == pytest.approx(a.tpot_s, rel=1e-12)


def test_sweep_command_writes_every_point(cli, tmp_path):
    out = tmp_path / "grid.csv"
    cli("sweep", "-m", "llama2-7b,mistral-7b", "-g", "a100,h100", "-b", "1,8,64", "-c", "4k,32k",
        "--kv-dtype", "fp16,int4", "-f", "csv", "-o", str(out))
    lines = out.read_text().splitlines()
    assert lines[0].startswith("model,gpu,batch,context,kv_dtype,attention")
    assert len(lines) == 1 + 2 * 2 * 3 * 2 * 2 * 2
    doc = json.loads(cli("sweep", "-m", "llama2-7b", "-g", "h100", "-b", "1", "-c", "4k", "--kv-dtype", "fp16", "-f", "json").stdout)
    (p0, p1) = doc["points"]  # eager and flash
    a = analyze(load_model("llama2-7b"), load_hardware("h100"), Settings(batch=1, context=4096))
    assert p0["tpot_s"] == pytest.approx(a.tpot_s) and p0["kv_bytes"] == 2 * 1024**3


@pytest.mark.parametrize("args, message", [
    (["-g", "a100,h100", "--dtype", "fp8"], "a100-40gb have no fp8 peak"),
    (["--attention", "paged"], "expected eager, flash"),
    (["-m", "nope"], "unknown model"),
    (["-b", "0"], "--batch"),
])
def test_sweep_bad_input(cli, args, message):
    out = cli("sweep", *args, code=2)
    assert message in out.output
