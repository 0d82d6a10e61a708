"""What `rooflint measure` predicts for the recorded CPU run, against the formulas written out by
hand: a copy moves 2n bytes, a GEMM does 2MNK FLOPs, eager attention is seed 004's three kernels,
a fused kernel re-reads K and V once per query tile (FlashAttention-2), a decode step of the tiny
decoder does 2 FLOPs per weight. Times: t0 + max((F + F_half) / P, bytes / BW) per kernel on the
profile calibrated from the run (t0 and F_half only for what the calibration fitted)."""

import json
import math
import os

import pytest
from typer.testing import CliRunner

from rooflint.cli import app

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")
BYTES = {"fp32": 4, "bf16": 2, "fp64": 8}
SRAM = 164 * 1024  # an A100 SM's shared memory: the fallback for a profile (this CPU's) that gives none
SMS = 108  # an A100's SMs, likewise
SOFTMAX = 5  # FLOPs per element (seed 004)


@pytest.fixture(scope="module")
def doc():
    out = CliRunner().invoke(app, ["measure", "--load", FIXTURE, "-f", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def rows(doc, kernel, variant=""):
    found = [r for r in doc["comparisons"] if r["kernel"] == kernel and r["variant"] == variant]
    assert found, (kernel, variant)
    return found


def params(doc, r):
    i = doc["comparisons"].index(r)
    return doc["run"]["measurements"][i]["case"]["params"]


def profile(doc, backend):
    c = doc["calibration"]["backends"][backend]
    return c["bandwidth_bytes_per_s"], c["kernel_overhead_s"], c["peak_flop_per_s"], c["matmul_half_flop"]


def kernel_time(doc, backend, flops, nbytes, peak_key, matmul):
    bw, t0, peaks, half = profile(doc, backend)
    return t0 + max((flops + (half.get(peak_key, 0) if matmul else 0)) / peaks[peak_key], nbytes / bw)


def test_the_ceilings_are_the_best_copy_and_gemm(doc):
    """numpy's bandwidth is its 1 GiB copy's 2 GiB / time; torch's fp32 peak its 2048^3 GEMM's."""
    ms = doc["run"]["measurements"]
    copy = next(m for m in ms if m["backend"] == "numpy" and m["case"]["params"] == {"n": 1 << 30})
    assert profile(doc, "numpy")[0] == pytest.approx(2 * (1 << 30) / copy["stats"]["median"], rel=1e-12)
    gemm = next(m for m in ms if m["backend"] == "torch" and m["case"]["dtype"] == "fp32"
                and m["case"]["params"] == {"M": 2048, "N": 2048, "K": 2048})
    assert profile(doc, "torch")[2]["fp32"] == pytest.approx(2 * 2048**3 / gemm["stats"]["median"], rel=1e-12)
    smallest = next(m for m in ms if m["backend"] == "torch" and m["case"]["params"] == {"n": 4096})
    t0 = smallest["stats"]["median"] - 2 * 4096 / profile(doc, "torch")[0]
    assert profile(doc, "torch")[1] == pytest.approx(t0, rel=1e-12)


def test_copy(doc):
    for r in rows(doc, "copy"):
        n = params(doc, r)["n"]
        assert r["flops"] == 0 and r["bytes"] == 2 * n
        bw, t0, _, _ = profile(doc, r["backend"])
        assert r["calibrated_s"] == pytest.approx(t0 + 2 * n / bw, rel=1e-12)
        assert r["roof_s"] == pytest.approx(2 * n / bw, rel=1e-12)


def test_gemm(doc):
    for r in rows(doc, "gemm"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        f, nbytes = 2 * p["M"] * p["N"] * p["K"], (p["M"] * p["K"] + p["K"] * p["N"] + p["M"] * p["N"]) * b
        assert (r["flops"], r["bytes"]) == (f, nbytes)
        by_hand = kernel_time(doc, r["backend"], f, nbytes, r["dtype"], True)
        assert r["calibrated_s"] == pytest.approx(by_hand, rel=1e-12)
        assert r["achieved_flop_per_s"] == pytest.approx(f / r["measured_s"], rel=1e-12)
        assert r["calibrated_error"] == pytest.approx(r["calibrated_s"] / r["measured_s"] - 1, rel=1e-12)


def test_qk_and_softmax(doc):
    for r in rows(doc, "qk"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        g, n, d = p["G"], p["N"], p["d"]
        assert r["flops"] == 2 * g * n * n * d and r["bytes"] == g * (2 * n * d + n * n) * b
    for r in rows(doc, "softmax"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        f, nbytes = SOFTMAX * p["R"] * p["N"], 2 * p["R"] * p["N"] * b
        assert (r["flops"], r["bytes"]) == (f, nbytes)
        assert r["calibrated_s"] == pytest.approx(kernel_time(doc, r["backend"], f, nbytes, "fp32", False), rel=1e-12)


def test_eager_attention_is_seed_004s_three_kernels(doc):
    for r in rows(doc, "attention", "eager"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        B, H, N, d = p["B"], p["H"], p["N"], p["d"]
        s = B * H * N * N  # elements of S (and of P)
        qk = (2 * s * d, 2 * B * H * N * d * b + s * b, True)  # reads Q and K, writes S
        softmax = (SOFTMAX * s, 2 * s * b, False)  # reads S, writes P
        pv = (2 * s * d, s * b + 2 * B * H * N * d * b, True)  # reads P and V, writes O
        assert r["flops"] == sum(k[0] for k in (qk, softmax, pv)) == 4 * s * d + SOFTMAX * s
        assert r["bytes"] == 4 * B * H * N * d * b + 4 * s * b
        by_hand = sum(kernel_time(doc, r["backend"], f, nb, r["dtype"] if mm else "fp32", mm)
                      for f, nb, mm in (qk, softmax, pv))
        assert r["calibrated_s"] == pytest.approx(by_hand, rel=1e-12)
        assert [o["name"] for o in r["ops"]] == ["qk_matmul", "softmax", "pv_matmul"]


def test_fused_attention_rereads_kv_per_query_tile(doc):
    """Non-causal: every tile computed. Tiles B_r = B_c = M / (4 d) elements (a multiple of 16);
    the bound's memory traffic is compulsory: Q, K, V read once, O and the fp32 log-sum-exp
    written once (the per-tile K/V re-loads are served by the cache)."""
    for variant in ("sdpa-flash", "sdpa-math"):
        for r in rows(doc, "attention", variant):
            p, b = params(doc, r), BYTES[r["dtype"]]
            B, H, N, d = p["B"], p["H"], p["N"], p["d"]
            flops = 2 * B * H * N * N * 2 * d + SOFTMAX * B * H * N * N
            nbytes = B * H * N * d * b + B * H * N * 2 * d * b + B * H * N * d * b + 4 * B * H * N
            assert (r["flops"], r["bytes"]) == (flops, nbytes)
            assert r["calibrated_s"] == pytest.approx(kernel_time(doc, r["backend"], flops, nbytes, r["dtype"], True),
                                                      rel=1e-12)


def test_decode_attention(doc):
    for r in rows(doc, "decode_attention", "eager"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        B, Hq, Hkv, C, d = p["B"], p["H_q"], p["H_kv"], p["C"], p["d"]
        assert r["flops"] == 2 * B * Hq * C * 2 * d + SOFTMAX * B * Hq * C
        # qk reads q and K (once per KV head) and writes S; softmax S -> P; pv reads P and V, writes o
        assert r["bytes"] == (B * Hq * d + B * Hkv * C * d + B * Hq * C) * b + 2 * B * Hq * C * b \
            + (B * Hq * C + B * Hkv * C * d + B * Hq * d) * b
    for r in rows(doc, "decode_attention", "sdpa"):
        p, b = params(doc, r), BYTES[r["dtype"]]
        B, Hq, Hkv, C, d = p["B"], p["H_q"], p["H_kv"], p["C"], p["d"]
        splits = max(1, min(math.ceil(2 * SMS / (B * Hkv)), C // max(256, 2 * (d + 1))))
        assert splits > 1  # flash-decoding: fp32 partials, then a reduction kernel
        partial = B * Hq * splits * (d + 1) * 4
        decode = (2 * B * Hq * C * 2 * d + SOFTMAX * B * Hq * C, B * Hq * d * b + B * Hkv * C * 2 * d * b + partial)
        reduce = (3 * B * Hq * splits * (d + 1), partial + B * Hq * d * b)
        assert r["flops"] == decode[0] + reduce[0] and r["bytes"] == decode[1] + reduce[1]
        by_hand = kernel_time(doc, r["backend"], *decode, r["dtype"], True) + \
            kernel_time(doc, r["backend"], *reduce, "fp32", False)
        assert r["calibrated_s"] == pytest.approx(by_hand, rel=1e-12)


def test_tiny_decoder_step_does_two_flops_per_weight(doc):
    """L=4 layers, D=256, 8 query heads and 2 KV heads of 32, MLP 688, vocabulary 2048. The
    linear layers do 2 FLOPs per weight per token; the lm_head runs on the last position only;
    the cached step's attention reads all n cached keys."""
    L, D, Hq, Hkv, d, F, V = 4, 256, 8, 2, 32, 688, 2048
    per_layer = D * d * (Hq + 2 * Hkv) + Hq * d * D + 3 * D * F
    linear = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    for variant in ("cached", "uncached"):
        for r in rows(doc, "generate", variant):
            n = params(doc, r)["n"]
            tokens = 1 if variant == "cached" else n
            ops = {o["name"]: o for o in r["ops"]}
            assert sum(ops[k]["flops"] * ops[k]["count"] for k in linear) == 2 * tokens * L * per_layer
            assert ops["lm_head"]["flops"] == 2 * D * V and ops["lm_head"]["count"] == 1
            if variant == "cached":
                fd = ops["flash_decode"]
                assert fd["count"] == L and fd["flops"] == 2 * Hq * n * 2 * d + SOFTMAX * Hq * n
                # weights are read once a step: the matmuls' bytes are at least the weights (fp32)
                weights = 4 * (L * per_layer + D * V)
                assert sum(ops[k]["bytes_read"] * ops[k]["count"] for k in (*linear, "lm_head")) >= weights
            else:
                assert "flash_attention" in ops and ops["flash_attention"]["count"] == L
            assert r["flops"] == sum(o["flops"] * o["count"] for o in r["ops"])
            assert r["calibrated_s"] == pytest.approx(
                sum(o["time_s"] * o["count"] for o in r["calibrated_ops"]), rel=1e-12)
