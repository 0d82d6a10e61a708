"""`plan --gpus N`: every layout of the GPUs, each row the plan of its own replica, ranked by
the forecast TPOT among those that fit; and the tensor-parallel traffic counted from first
principles (Megatron's two all-reduces per layer)."""

import pytest


def layouts(cli, *args):
    return cli.json("plan", *args)["layouts"]


def test_each_row_is_its_replicas_plan_and_the_ranking_is_by_tpot(cli):
    rows = layouts(cli, "llama3-70b", "--gpu", "h100", "--gpus", "8", "--batch", "64", "--context", "4k")
    by = {(r["layout"]["tp"], r["layout"]["dp"]): r for r in rows}
    assert set(by) == {(1, 8), (2, 4), (4, 2), (8, 1)}
    for (tp, dp), r in by.items():
        one = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", str(tp), "--batch", str(64 // dp),
                       "--context", "4k")
        assert r["per_replica"] == 64 // dp
        assert r["tpot_forecast_s"] == pytest.approx(one["plan"]["tpot_forecast_s"], rel=1e-12)
        assert r["ttft_forecast_s"] == pytest.approx(one["plan"]["ttft_forecast_s"], rel=1e-12)
        assert r["fits"] == one["memory"]["fits"]
    fitting = [r for r in rows if r["fits"]]
    assert [r["rank"] for r in fitting] == list(range(1, len(fitting) + 1))
    assert [r["tpot_forecast_s"] for r in fitting] == sorted(r["tpot_forecast_s"] for r in fitting)
    for r in rows:
        if not r["fits"]:
            assert r["rank"] is None and r["memory_bytes"] > r["usable_bytes"] and "does not fit" in r["reason"]
    assert not by[(1, 8)]["fits"]  # 141 GB of bf16 weights on one 80 GB GPU


def test_a_moe_model_also_gets_dp_attention_with_expert_parallelism(cli):
    rows = layouts(cli, "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dtype", "fp8", "--batch", "64",
                   "--context", "4k")
    ep = [r for r in rows if r["layout"]["ep"] == 8]
    assert len(ep) == 1 and ep[0]["per_replica"] == 8 and ep[0]["fits"]


def test_megatron_tp_all_reduces_two_per_layer_of_the_batch_activations(cli):
    """Decode, tp 4, batch 8: 80 layers x 2 all-reduces, each a ring moving 2(n-1)/n of the
    8 x 8192 fp16 activations per GPU over the 900 GB/s NVLink figure."""
    doc = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--batch", "8", "--context", "4k")
    assert doc["plan"]["allreduce_decode_s"] == pytest.approx(80 * 2 * (2 * 3 / 4) * 8 * 8192 * 2 / 900e9)


def test_gpus_and_tp_together_are_refused(cli):
    r = cli("plan", "llama3-8b", "--gpus", "8", "--tp", "2", code=2)
    assert r.stderr.count("\n") == 1 and "--gpus" in r.stderr
