"""The flash-attention bound is a bound: no measured kernel beats it by more than 5%.

Measurements: tests/data/measured/attention-sample.csv (aiconfigurator's TensorRT-LLM, vLLM and
SGLang kernel tables on A100 and H100; see its README). Each row is held against the attention
op of one layer of the same shape, as shared/reference/measured/README.md maps them: `analyze`
with the row's heads, KV heads, head_dim and window, prompt = isl (context) or context = step + 1
(decode), flash attention, the row's compute and KV dtypes.
"""

import csv
import os
from dataclasses import replace
from functools import lru_cache

import pytest

from rooflint.analysis.inference import analyze
from rooflint.specs.catalog import load_hardware, load_model
from rooflint.workload import Workload

SAMPLE = os.path.join(os.path.dirname(__file__), "data", "measured", "attention-sample.csv")
DTYPES = {"bfloat16": "bf16", "float16": "fp16", "fp8": "fp8"}


@lru_cache(maxsize=None)
def _model(heads, kv_heads, head_dim, window):
    return replace(load_model("llama2-7b"), name="shape", num_attention_heads=heads, num_key_value_heads=kv_heads,
                   head_dim=head_dim, sliding_window=window or None, max_position_embeddings=None)


def bound_s(row):
    m = _model(int(row["heads"]), int(row["kv_heads"]), int(row["head_dim"]), int(row["window"] or 0))
    dt, kv = DTYPES[row["dtype"]], DTYPES[row["kv_dtype"]]
    if row["kind"] == "context_attention":
        a = analyze(m, load_hardware(row["gpu"]), Workload(batch=int(row["batch"]), prompt=int(row["isl"]),
                                                           attention="flash", dtype=dt, kv_dtype=kv))
        return sum(t.time_s for t in a.prefill.ops if t.op.name == "flash_attention")
    a = analyze(m, load_hardware(row["gpu"]), Workload(batch=int(row["batch"]), prompt=1, context=int(row["step"]) + 1,
                                                       attention="flash", dtype=dt, kv_dtype=kv))
    return sum(t.time_s * t.op.present for t in a.decode.ops if t.op.name.startswith("flash_decode"))


with open(SAMPLE, encoding="utf-8") as f:
    ROWS = list(csv.DictReader(f))


def test_the_sample_is_what_its_readme_says():
    kinds = [r["kind"] for r in ROWS]
    assert len(ROWS) == 600 and kinds.count("generation_attention") == 200


def test_no_measured_attention_kernel_beats_the_bound():
    ratios = sorted((float(r["measured_s"]) / bound_s(r), r["id"]) for r in ROWS)
    assert ratios[0][0] >= 0.95, ratios[:5]


def test_trtllm_16k_head_dim_256_causal():
    # TensorRT-LLM causal context attention, H100, N = 16384, 32 heads of 256, bf16: 7.94 ms measured
    # (published-train.json aic-fmha-h100-d256-b1-n16384). Its compulsory traffic is 4 x 16384 x 32 x
    # 256 x 2 B = 1.07 GB (0.32 ms at 3.35 TB/s); its causal work 2 x 32 x (256 + 256) x 16384^2 / 2 =
    # 4.40 TFLOP (4.45 ms at 989.4 TFLOP/s): compute-bound, with the diagonal tiles' extra work on top
    row = {"kind": "context_attention", "gpu": "h100-sxm", "batch": "1", "isl": "16384", "heads": "32",
           "kv_heads": "32", "head_dim": "256", "window": "0", "dtype": "bfloat16", "kv_dtype": "bfloat16"}
    t = bound_s(row)
    causal = 2 * 32 * 512 * 16384 * 16384 / 2 / 989.4e12
    assert causal <= t <= 7.94e-3
    assert t == pytest.approx(causal, rel=0.02)
